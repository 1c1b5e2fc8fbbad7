/**
 * Pickle opcodes as bytes, encoded the way CPython's `pickle` (protocol 2) writes them: the
 * building block of the torch checkpoint writer and of the hand-made pickles in tests.
 *
 * @module
 */

const enc = new TextEncoder();

/** Appends pickle opcodes to a growing byte buffer. */
export class PickleEncoder {
  private buf = new Uint8Array(1024);
  private len = 0;

  /** Appends raw bytes. */
  bytes(b: ArrayLike<number>): this {
    if (this.len + b.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + b.length));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Appends opcode bytes. */
  op(...b: number[]): this {
    return this.bytes(b);
  }

  /** PROTO n. */
  proto(n: number): this {
    return this.op(0x80, n);
  }

  /** GLOBAL `module\nname\n` (protocol < 4). */
  global(module: string, name: string): this {
    return this.op(0x63).bytes(enc.encode(`${module}\n${name}\n`));
  }

  /** BINUNICODE: a str as a 4-byte length and its UTF-8 bytes. */
  str(s: string): this {
    const b = enc.encode(s);
    return this.op(0x58, ...u32(b.length)).bytes(b);
  }

  /**
   * An int as CPython's `save_long`: BININT1 (0..255), BININT2 (..65535), BININT (signed 32
   * bits), else LONG1 with the shortest two's-complement little-endian bytes.
   */
  int(n: number | bigint): this {
    const x = BigInt(n);
    if (x >= 0n && x <= 0xffn) return this.op(0x4b, Number(x));
    if (x >= 0n && x <= 0xffffn) return this.op(0x4d, Number(x) & 0xff, Number(x) >> 8);
    if (x >= -0x80000000n && x <= 0x7fffffffn) return this.op(0x4a, ...u32(Number(x) >>> 0));
    // encode_long: (bit_length >> 3) + 1 bytes, one fewer when a negative number allows it.
    const bitLength = (x < 0n ? -x : x).toString(2).length;
    let nbytes = (bitLength >> 3) + 1;
    const out: number[] = [];
    let v = BigInt.asUintN(8 * nbytes, x);
    for (let i = 0; i < nbytes; i++, v >>= 8n) out.push(Number(v & 0xffn));
    if (x < 0n && nbytes > 1 && out[nbytes - 1] === 0xff && (out[nbytes - 2] & 0x80) !== 0) {
      out.pop();
      nbytes--;
    }
    return this.op(0x8a, nbytes, ...out);
  }

  /** BINPUT / LONG_BINPUT: stores the top of the stack in memo slot `i`. */
  put(i: number): this {
    return i < 256 ? this.op(0x71, i) : this.op(0x72, ...u32(i));
  }

  /** BINGET / LONG_BINGET: pushes memo slot `i`. */
  get(i: number): this {
    return i < 256 ? this.op(0x68, i) : this.op(0x6a, ...u32(i));
  }

  /** The bytes written so far (a copy). */
  build(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}
