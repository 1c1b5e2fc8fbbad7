import { assertEquals } from "@std/assert";
import { etagKind, hashFile } from "./_verify.ts";

Deno.test("hashFile: known answers for git blob sha1 (`git hash-object`) and sha256", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/hello`, "hello\n");
    // `printf 'hello\n' | git hash-object --stdin`
    assertEquals(
      await hashFile(`${dir}/hello`, "git-sha1"),
      "ce013625030ba8dba906f756967f9e9ca394464a",
    );
    // `printf 'hello\n' | sha256sum`
    assertEquals(
      await hashFile(`${dir}/hello`, "sha256"),
      "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
    );
    await Deno.writeFile(`${dir}/empty`, new Uint8Array());
    assertEquals(
      await hashFile(`${dir}/empty`, "git-sha1"),
      "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("etagKind: 64 hex → sha256, 40 hex → git sha1, anything else → size check only", () => {
  assertEquals(etagKind("a".repeat(64)), "sha256");
  assertEquals(etagKind("a".repeat(40)), "git-sha1");
  assertEquals(etagKind("abc-1"), null);
  assertEquals(etagKind("A".repeat(64)), null);
});
