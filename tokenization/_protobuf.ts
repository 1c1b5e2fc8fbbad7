/**
 * A minimal protobuf wire-format reader (varint, 64-bit, length-delimited, 32-bit), enough for
 * SentencePiece's `ModelProto`. Truncated or malformed input throws {@linkcode TokenizerError}.
 *
 * @module
 */
import { TokenizerError } from "./errors.ts";

/** One field of a message: number, wire type and raw value. */
export interface ProtoField {
  /** Field number. */
  field: number;
  /** Wire type (0 varint, 1 fixed64, 2 bytes, 5 fixed32). */
  wire: number;
  /** Varint value (wire 0). */
  varint?: bigint;
  /** Payload (wire 1, 2, 5). */
  bytes?: Uint8Array;
}

/** Reads every top-level field of a protobuf message. */
export function readFields(buf: Uint8Array, what: string): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (let k = 0; k < 10; k++) {
      if (pos >= buf.length) {
        throw new TokenizerError(
          `${what}: truncated protobuf (varint runs past the end at byte ${pos})`,
        );
      }
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new TokenizerError(
      `${what}: malformed protobuf (varint longer than 10 bytes at byte ${pos})`,
    );
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > buf.length) {
      throw new TokenizerError(
        `${what}: truncated protobuf (a field of ${n} bytes at byte ${pos} runs past the end, ${buf.length} bytes)`,
      );
    }
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) {
      throw new TokenizerError(`${what}: malformed protobuf (field number 0 at byte ${pos})`);
    }
    switch (wire) {
      case 0:
        out.push({ field, wire, varint: varint() });
        break;
      case 1:
        out.push({ field, wire, bytes: take(8) });
        break;
      case 2: {
        const len = varint();
        if (len > BigInt(buf.length)) {
          throw new TokenizerError(
            `${what}: truncated protobuf (length ${len} at byte ${pos} exceeds the buffer)`,
          );
        }
        out.push({ field, wire, bytes: take(Number(len)) });
        break;
      }
      case 5:
        out.push({ field, wire, bytes: take(4) });
        break;
      default:
        throw new TokenizerError(
          `${what}: malformed protobuf (unsupported wire type ${wire} for field ${field})`,
        );
    }
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Decodes a length-delimited field as UTF-8. */
export function fieldString(f: ProtoField): string {
  return utf8.decode(f.bytes ?? new Uint8Array());
}

/** Decodes a fixed32 field as a little-endian float32. */
export function fieldFloat(f: ProtoField): number {
  const b = f.bytes!;
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
}
