/**
 * A small, defensive reader for zip archives, enough for PyTorch checkpoints
 * (`pytorch_model.bin` written by `torch.save`): central directory (with ZIP64 records), stored
 * and deflated entries, CRC-32 checks.
 *
 * Every offset and size is checked against the file before it is used; entry names that could
 * escape a directory (`../x`, `/etc/x`, `C:\x`) and duplicate names are refused. Nothing is
 * ever written to disk.
 *
 * @module
 */
import { WeightsError } from "./errors.ts";

/** One entry of the central directory. */
export interface ZipEntry {
  /** Entry name, `/`-separated. */
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** CRC-32 of the uncompressed bytes. */
  crc32: number;
  /** Size of the stored (possibly compressed) bytes. */
  compressedSize: number;
  /** Size after decompression. */
  size: number;
  /** Offset of the entry data (after its local header) in the archive. */
  dataOffset: number;
}

/** A parsed zip archive held in memory. */
export interface ZipArchive {
  /** File name used in error messages. */
  file: string;
  /** Entries by name, in central-directory order. */
  entries: Map<string, ZipEntry>;
  /** The uncompressed, CRC-checked bytes of an entry. */
  read(name: string): Promise<Uint8Array>;
}

/** Options of `readZip`. */
export interface ReadZipOptions {
  /** File name used in error messages (default `"<bytes>"`). */
  file?: string;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, as zip uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Throws unless `name` is a safe relative path (no `..`, no absolute or drive prefix). */
function checkName(file: string, name: string): void {
  const bad = name.length === 0 || name.startsWith("/") || name.startsWith("\\") ||
    /^[A-Za-z]:/.test(name) || name.includes("\0") ||
    name.split(/[\\/]/).some((part) => part === "..");
  if (bad) {
    throw new WeightsError(
      `${file}: zip entry name ${JSON.stringify(name)} is unsafe (absolute path or "..")`,
    );
  }
}

/**
 * Parses the central directory of a zip archive held in memory and validates every entry
 * (name, sizes, local header, data range) before any entry is read.
 *
 * @example
 * ```ts ignore
 * import { readZip } from "./zip.ts";
 * const zip = readZip(await Deno.readFile("pytorch_model.bin"), { file: "pytorch_model.bin" });
 * const pickle = await zip.read("pytorch_model/data.pkl");
 * ```
 */
export function readZip(bytes: Uint8Array, opts: ReadZipOptions = {}): ZipArchive {
  const file = opts.file ?? "<bytes>";
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const u16 = (o: number) => v.getUint16(o, true);
  const u32 = (o: number) => v.getUint32(o, true);
  const u64 = (o: number, what: string): number => {
    const x = v.getBigUint64(o, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new WeightsError(`${file}: zip ${what} ${x} is beyond any file size`);
    }
    return Number(x);
  };
  // End of central directory: 22 bytes + a comment of up to 65535 bytes at the end.
  let eocd = -1;
  for (let o = len - 22; o >= Math.max(0, len - 22 - 0xffff); o--) {
    if (u32(o) === SIG_EOCD && o + 22 + u16(o + 20) === len) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) {
    throw new WeightsError(
      `${file}: not a zip archive (no end-of-central-directory record; truncated or corrupt)`,
    );
  }
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== SIG_ZIP64_LOCATOR) {
      throw new WeightsError(`${file}: zip needs ZIP64 records but the ZIP64 locator is missing`);
    }
    const rec = u64(loc + 8, "ZIP64 record offset");
    if (rec + 56 > loc || u32(rec) !== SIG_ZIP64_EOCD) {
      throw new WeightsError(
        `${file}: zip ZIP64 end record at ${rec} is missing or outside the file`,
      );
    }
    count = u64(rec + 32, "entry count");
    cdSize = u64(rec + 40, "central directory size");
    cdOffset = u64(rec + 48, "central directory offset");
  }
  if (cdOffset + cdSize > eocd) {
    throw new WeightsError(
      `${file}: zip central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file ` +
        `(records end at ${eocd})`,
    );
  }
  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder("utf-8", { fatal: false });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || u32(p) !== SIG_CENTRAL) {
      throw new WeightsError(
        `${file}: zip central directory entry ${i} at offset ${p} is corrupt ` +
          `(expected ${count} entries in [${cdOffset}, ${cdEnd}))`,
      );
    }
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localOffset = u32(p + 42);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) {
      throw new WeightsError(`${file}: zip central directory entry ${i} runs past the directory`);
    }
    const name = names.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 0xffffffff fields, in order size, compressed, offset.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(e);
      const n = u16(e + 2);
      if (e + 4 + n > extraEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = (what: string) => {
          if (q + 8 > e + 4 + n) {
            throw new WeightsError(`${file}: zip entry "${name}": ZIP64 field ${what} missing`);
          }
          const x = u64(q, `entry "${name}" ${what}`);
          q += 8;
          return x;
        };
        if (size === 0xffffffff) size = take("size");
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
        if (localOffset === 0xffffffff) localOffset = take("offset");
      }
      e += 4 + n;
    }
    checkName(file, name);
    if (entries.has(name)) {
      throw new WeightsError(`${file}: zip has two entries named ${JSON.stringify(name)}`);
    }
    if (flags & 1) {
      throw new WeightsError(`${file}: zip entry "${name}" is encrypted`);
    }
    if (method !== 0 && method !== 8) {
      throw new WeightsError(
        `${file}: zip entry "${name}" uses compression method ${method}, expected 0 (stored) or 8 (deflate)`,
      );
    }
    if (method === 0 && compressedSize !== size) {
      throw new WeightsError(
        `${file}: zip entry "${name}" is stored but sizes differ (${compressedSize} vs ${size})`,
      );
    }
    if (localOffset + 30 > cdOffset || u32(localOffset) !== SIG_LOCAL) {
      throw new WeightsError(
        `${file}: zip entry "${name}": local header at ${localOffset} is missing or outside the data`,
      );
    }
    const dataOffset = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
    if (dataOffset + compressedSize > cdOffset) {
      throw new WeightsError(
        `${file}: zip entry "${name}": data [${dataOffset}, ${dataOffset + compressedSize}) ` +
          `lies outside the file data (which ends at ${cdOffset})`,
      );
    }
    entries.set(name, { name, method, crc32: crc, compressedSize, size, dataOffset });
    p = next;
  }
  const read = async (name: string): Promise<Uint8Array> => {
    const entry = entries.get(name);
    if (!entry) throw new WeightsError(`${file}: zip has no entry "${name}"`);
    const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
    const out = entry.method === 0 ? raw : await inflateRaw(raw, entry.size, `${file}: "${name}"`);
    if (out.length !== entry.size) {
      throw new WeightsError(
        `${file}: zip entry "${name}" inflated to ${out.length} bytes, expected ${entry.size}`,
      );
    }
    const c = crc32(out);
    if (c !== entry.crc32) {
      throw new WeightsError(
        `${file}: zip entry "${name}" is corrupt: CRC-32 ${c.toString(16)}, expected ${
          entry.crc32.toString(16)
        }`,
      );
    }
    return out;
  };
  return { file, entries, read };
}

/** Inflates raw deflate data, refusing output longer than `expected` bytes (zip bombs). */
async function inflateRaw(raw: Uint8Array, expected: number, where: string): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let n = 0;
  const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate-raw"),
  );
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > expected) {
        throw new WeightsError(
          `${where}: deflate data expands beyond the declared ${expected} bytes`,
        );
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof WeightsError) throw e;
    throw new WeightsError(`${where}: corrupt deflate data: ${(e as Error).message}`, { cause: e });
  }
  return out.subarray(0, n);
}
