/**
 * Content verification of downloaded blobs against the Hub ETag: sha256 of the bytes for LFS files
 * (64 hex digits), git blob sha1 (`sha1("blob <size>\0" + bytes)`, 40 hex digits) for the others.
 * Private to `config/hub/`.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Which hash an ETag is, or `null` when it is neither form (then only the size is checked). */
export function etagKind(etag: string): "sha256" | "git-sha1" | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return "sha256";
  if (/^[0-9a-f]{40}$/.test(etag)) return "git-sha1";
  return null;
}

/** The ETag-form hash of the file at `path` (streamed; the file may be large). */
export async function hashFile(path: string, kind: "sha256" | "git-sha1"): Promise<string> {
  const size = (await Deno.stat(path)).size;
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${size}\0`);
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}
