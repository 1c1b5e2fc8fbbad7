/**
 * Test helpers (used by the `*_test.ts` files here, the fuzz harness and its smoke test): zip
 * archives with optional deflate, a chainable pickle assembler and a torch-checkpoint builder, so
 * tests can hand-craft both valid and malicious files byte by byte. All are thin wrappers over
 * the real writers (`writeZip`, `PickleEncoder`, `writeTorchCheckpoint`).
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { PickleEncoder } from "./_pickle_write.ts";
import { writeTorchCheckpoint } from "./torch_save.ts";
import { concatBytes, writeZip } from "./zip.ts";

const enc = new TextEncoder();

/** Options of `makeZip`. */
export interface MakeZipOptions {
  /** Deflate the entries (default: stored, as torch writes). */
  deflate?: boolean;
  /** `writeZip`'s layout; default `"plain"`, the smallest archive. */
  layout?: "torch" | "plain";
}

async function deflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Builds a zip archive (see `writeZip`) from `[name, bytes]` entries, in order. */
export async function makeZip(
  entries: [string, Uint8Array][],
  opts: MakeZipOptions = {},
): Promise<Uint8Array> {
  return writeZip(
    await Promise.all(entries.map(async ([name, data]) => ({
      name,
      data,
      deflated: opts.deflate ? await deflateRaw(data) : undefined,
    }))),
    { layout: opts.layout ?? "plain" },
  );
}

/** Concatenates byte arrays. */
export const concat: (parts: readonly Uint8Array[]) => Uint8Array = concatBytes;

/** A tiny pickle assembler: each method appends one opcode with its argument. */
export class PickleWriter {
  private readonly out = new PickleEncoder();
  /** Raw bytes. */
  raw(...b: number[]): this {
    this.out.op(...b);
    return this;
  }
  /** PROTO n. */
  proto(n: number): this {
    this.out.proto(n);
    return this;
  }
  /** GLOBAL "module\nname\n". */
  global(module: string, name: string): this {
    this.out.global(module, name);
    return this;
  }
  /** BINUNICODE. */
  str(s: string): this {
    this.out.str(s);
    return this;
  }
  /** SHORT_BINUNICODE (protocol 4). */
  shortStr(s: string): this {
    const b = enc.encode(s);
    this.out.op(0x8c, b.length).bytes(b);
    return this;
  }
  /** An int as CPython writes it (BININT1 / BININT2 / BININT / LONG1). */
  int(n: number): this {
    this.out.int(n);
    return this;
  }
  /** A tuple of ints (MARK ... TUPLE). */
  intTuple(xs: number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.raw(0x74);
  }
  /** MARK. */
  mark(): this {
    return this.raw(0x28);
  }
  /** The bytes written so far. */
  build(): Uint8Array {
    return this.out.build();
  }
}

/**
 * Builds a torch zip checkpoint (`<prefix>/data.pkl` + `<prefix>/data/<i>` + `<prefix>/version`)
 * holding `tensors`, as `torch.save(state_dict)` writes it (see `writeTorchCheckpoint`).
 */
export function makeTorchCheckpoint(
  tensors: Map<string, Tensor>,
  prefix = "archive",
): Promise<Uint8Array> {
  return Promise.resolve(writeTorchCheckpoint(tensors, { archiveName: prefix }));
}
