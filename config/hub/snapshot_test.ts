import { assertEquals } from "@std/assert";
import { filterRepoFiles, globToRegExp } from "./snapshot.ts";

Deno.test("globToRegExp follows Python fnmatch (* crosses '/', ?, [set], [!set], trailing '/')", () => {
  const cases: [string, string, boolean][] = [
    ["*.json", "config.json", true],
    ["*.json", "onnx/config.json", true],
    ["*.json", "config.jsonl", false],
    ["model.?afetensors", "model.safetensors", true],
    ["[ab].txt", "a.txt", true],
    ["[!ab].txt", "a.txt", false],
    ["[!ab].txt", "c.txt", true],
    ["onnx/", "onnx/model.onnx", true],
    ["onnx/", "model.onnx", false],
    ["a+b(1).json", "a+b(1).json", true],
    ["[", "[", true],
  ];
  for (const [pattern, path, want] of cases) {
    assertEquals(globToRegExp(pattern).test(path), want, `${pattern} vs ${path}`);
  }
});

Deno.test("filterRepoFiles: allow patterns, then ignore patterns", () => {
  const files = [
    "config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "vocab.txt",
    "onnx/m.onnx",
  ];
  assertEquals(filterRepoFiles(files), files);
  assertEquals(filterRepoFiles(files, ["*.json", "*.safetensors"]), [
    "config.json",
    "model.safetensors",
  ]);
  assertEquals(filterRepoFiles(files, undefined, ["*.bin", "onnx/"]), [
    "config.json",
    "model.safetensors",
    "vocab.txt",
  ]);
  assertEquals(filterRepoFiles(files, "*.txt", "*.txt"), []);
});
