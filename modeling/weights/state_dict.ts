/**
 * Loading a model's weights from a directory (or Hub id) the way `transformers` looks for them,
 * and saving them as (sharded) safetensors or `pytorch_model.bin` in HF's layout.
 *
 * Preference order, as `PreTrainedModel.from_pretrained`: `model.safetensors`,
 * `model.safetensors.index.json`, `pytorch_model.bin`, `pytorch_model.bin.index.json`.
 *
 * @module
 */
import { resolveModelFile, type ResolveOptions } from "@encdec/config";
import type { Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { readFileOrThrow, writeFileAtomic } from "./_file_io.ts";
import {
  loadSafetensorsFile,
  saveSafetensorsFile,
  type TensorDict,
  tensorEntries,
} from "./safetensors.ts";
import { loadTorchCheckpointFile } from "./torch_pickle.ts";
import { saveTorchCheckpointFile } from "./torch_save.ts";

/** The weight file names looked for, in order of preference. */
export const WEIGHTS_FILE_NAMES: readonly string[] = [
  "model.safetensors",
  "model.safetensors.index.json",
  "pytorch_model.bin",
  "pytorch_model.bin.index.json",
];

/** Options of `loadStateDict`: where to resolve files from (passed to `resolveModelFile`). */
export type LoadStateDictOptions = Omit<ResolveOptions, "optional">;

/** A loaded state dict and where it came from. */
export interface StateDict {
  /** Tensors by checkpoint key. */
  tensors: Map<string, Tensor>;
  /** Local paths of the files read (the index first for sharded checkpoints). */
  files: string[];
  /** Which format the weights were stored in. */
  format: "safetensors" | "pytorch";
}

/** A parsed `*.index.json` of a sharded checkpoint. */
export interface ShardIndex {
  /** `metadata` of the index (`total_size`, ...). */
  metadata: Record<string, unknown>;
  /** Tensor key → shard file name. */
  weightMap: Map<string, string>;
}

/**
 * Parses and validates a shard index (`{"metadata": {...}, "weight_map": {key: file}}`). Shard
 * names must be relative paths without `..`.
 *
 * @example
 * ```ts
 * import { parseShardIndex } from "./state_dict.ts";
 * const idx = parseShardIndex('{"metadata":{},"weight_map":{"w":"model-00001-of-00001.safetensors"}}');
 * idx.weightMap.get("w"); // "model-00001-of-00001.safetensors"
 * ```
 */
export function parseShardIndex(text: string, file = "<index>"): ShardIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new WeightsError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new WeightsError(`${file}: a shard index must be a JSON object`);
  }
  const { metadata = {}, weight_map: map } = json as Record<string, unknown>;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new WeightsError(`${file}: "weight_map" must be an object of tensor key → shard file`);
  }
  const weightMap = new Map<string, string>();
  for (const [key, shard] of Object.entries(map)) {
    if (typeof shard !== "string" || shard === "") {
      throw new WeightsError(
        `${file}: weight_map["${key}"] must be a shard file name, found ${JSON.stringify(shard)}`,
      );
    }
    if (shard.startsWith("/") || /^[A-Za-z]:/.test(shard) || shard.split(/[\\/]/).includes("..")) {
      throw new WeightsError(
        `${file}: weight_map["${key}"] = ${JSON.stringify(shard)} escapes the model directory`,
      );
    }
    weightMap.set(key, shard);
  }
  return {
    metadata: typeof metadata === "object" && metadata !== null
      ? metadata as Record<string, unknown>
      : {},
    weightMap,
  };
}

async function loadOne(path: string, format: StateDict["format"]): Promise<Map<string, Tensor>> {
  return format === "safetensors"
    ? (await loadSafetensorsFile(path)).tensors
    : await loadTorchCheckpointFile(path);
}

/**
 * Loads the weights of the model at `dirOrHubId` (a local directory; Hub ids go through
 * `resolveModelFile`). Sharded checkpoints load every shard named in the index and check that
 * each key is found in the shard the index names.
 *
 * @example
 * ```ts ignore
 * import { loadStateDict } from "./state_dict.ts";
 * const { tensors, format } = await loadStateDict("tests/testdata/fixtures/bert2bert");
 * format; // "safetensors"
 * ```
 */
export async function loadStateDict(
  dirOrHubId: string,
  opts: LoadStateDictOptions = {},
): Promise<StateDict> {
  for (const name of WEIGHTS_FILE_NAMES) {
    const path = await resolveModelFile(dirOrHubId, name, { ...opts, optional: true });
    if (path === null) continue;
    const format = name.startsWith("model.safetensors") ? "safetensors" : "pytorch";
    if (!name.endsWith(".index.json")) {
      return { tensors: await loadOne(path, format), files: [path], format };
    }
    const text = new TextDecoder().decode(await readFileOrThrow(path));
    const index = parseShardIndex(text, path);
    const shards = [...new Set(index.weightMap.values())];
    const files = [path];
    const loaded = new Map<string, Map<string, Tensor>>();
    for (const shard of shards) {
      const shardPath = await resolveModelFile(dirOrHubId, shard, { ...opts, optional: true });
      if (shardPath === null) {
        throw new WeightsError(`${path}: shard "${shard}" named in weight_map is missing`);
      }
      files.push(shardPath);
      loaded.set(shard, await loadOne(shardPath, format));
    }
    const tensors = new Map<string, Tensor>();
    for (const [key, shard] of index.weightMap) {
      const t = loaded.get(shard)!.get(key);
      if (!t) {
        throw new WeightsError(
          `${path}: tensor "${key}" is mapped to shard "${shard}" but that shard does not hold it`,
        );
      }
      tensors.set(key, t);
    }
    // Tensors a shard holds beyond the index are loaded too, as transformers does.
    for (const shardTensors of loaded.values()) {
      for (const [key, t] of shardTensors) if (!tensors.has(key)) tensors.set(key, t);
    }
    return { tensors, files, format };
  }
  throw new WeightsError(
    `${dirOrHubId}: no weights found; looked for ${WEIGHTS_FILE_NAMES.join(", ")}`,
  );
}

/**
 * Parses a shard size: a byte count or a string such as `"5GB"` (10^9), `"500MB"`, `"2GiB"`
 * (2^30), as `transformers.utils.convert_file_size_to_int`.
 *
 * @example
 * ```ts
 * import { parseFileSize } from "./state_dict.ts";
 * parseFileSize("5GB"); // 5000000000
 * parseFileSize("1KiB"); // 1024
 * ```
 */
export function parseFileSize(size: number | string): number {
  if (typeof size === "number") {
    if (!(size > 0) || !Number.isFinite(size)) {
      throw new WeightsError(`maxShardSize ${size} must be a positive number of bytes`);
    }
    return Math.floor(size);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B|[KMGT]b)?\s*$/.exec(size);
  if (!m) {
    throw new WeightsError(
      `maxShardSize "${size}" is not a size; expected e.g. 5000000, "10MB", "5GB" or "2GiB"`,
    );
  }
  const unit = m[2] ?? "B";
  const pow = { K: 1, M: 2, G: 3, T: 4 }[unit[0] as "K"] ?? 0;
  let n = Number(m[1]) * (unit.includes("i") ? 1024 ** pow : 1000 ** pow);
  if (unit.endsWith("b") && unit !== "B") n /= 8;
  if (!(n > 0)) throw new WeightsError(`maxShardSize "${size}" must be positive`);
  return Math.floor(n);
}

/** Options of `saveShardedSafetensors`. */
export interface SaveShardedOptions {
  /** Largest shard, in bytes or as `"5GB"`; default `"5GB"` (HF's default). */
  maxShardSize?: number | string;
  /** `__metadata__` of every shard; default `{"format": "pt"}`. */
  metadata?: Record<string, string>;
}

/** How one weight format is named and written by `saveSharded`. */
interface ShardFormat {
  /** The file name when everything fits in one shard. */
  single: string;
  /** The index file name of a sharded checkpoint. */
  index: string;
  /** Matches the shard files of this format (to remove stale ones). */
  shardPattern: RegExp;
  /** Shard `i` (1-based) of `n`. */
  shard(i: string, n: string): string;
  /** Tensors sharing one `data` array are one storage (kept in one shard, counted once). */
  aliasing: boolean;
  /** Writes one file crash-safely. */
  write(path: string, tensors: Map<string, Tensor>): Promise<void>;
}

/**
 * HF's `shard_checkpoint`: shards filled in the tensors' order, a new one starting when the next
 * tensor would not fit in a non-empty shard; with `aliasing`, a tensor whose storage is already in
 * a shard joins that shard and is not counted again.
 */
function planShards(
  items: [string, Tensor][],
  max: number,
  aliasing: boolean,
): { blocks: [string, Tensor][][]; total: number } {
  const blocks: [string, Tensor][][] = [[]];
  const blockOf = new Map<unknown, number>();
  let current = 0;
  let total = 0;
  for (const [key, t] of items) {
    const at = aliasing ? blockOf.get(t.data) : undefined;
    if (at !== undefined) {
      blocks[at].push([key, t]);
      continue;
    }
    const size = t.data.byteLength;
    if (current + size > max && blocks[blocks.length - 1].length > 0) {
      blocks.push([]);
      current = 0;
    }
    blocks[blocks.length - 1].push([key, t]);
    current += size;
    total += size;
    blockOf.set(t.data, blocks.length - 1);
  }
  return { blocks, total };
}

/**
 * Saves `tensors` into `dir` in one format as HF's `save_pretrained` does: the single file when
 * everything fits in `maxShardSize`, else numbered shards plus an index
 * (`{"metadata": {"total_size"}, "weight_map"}`, keys sorted). Every file is written
 * crash-safely, the index last; stale files of this format from an earlier save are removed.
 */
async function saveSharded(
  dir: string,
  tensors: TensorDict,
  maxShardSize: number | string,
  format: ShardFormat,
): Promise<string[]> {
  const max = parseFileSize(maxShardSize);
  const { blocks, total } = planShards(tensorEntries(tensors), max, format.aliasing);
  await Deno.mkdir(dir, { recursive: true });
  const base = dir.replace(/\/+$/, "");
  const stale = async (keep: Set<string>) => {
    for await (const e of Deno.readDir(base)) {
      const isOurs = e.name === format.single || e.name === format.index ||
        format.shardPattern.test(e.name);
      if (e.isFile && isOurs && !keep.has(e.name)) await Deno.remove(`${base}/${e.name}`);
    }
  };
  if (blocks.length === 1) {
    await format.write(`${base}/${format.single}`, new Map(blocks[0]));
    await stale(new Set([format.single]));
    return [format.single];
  }
  const n = blocks.length;
  const pad = (i: number) => String(i).padStart(5, "0");
  const names: string[] = [];
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const name = format.shard(pad(i + 1), pad(n));
    await format.write(`${base}/${name}`, new Map(blocks[i]));
    for (const [key] of blocks[i]) weightMap[key] = name;
    names.push(name);
  }
  const sortedMap: Record<string, string> = {};
  for (const key of Object.keys(weightMap).sort()) sortedMap[key] = weightMap[key];
  const index = { metadata: { total_size: total }, weight_map: sortedMap };
  await writeFileAtomic(
    `${base}/${format.index}`,
    new TextEncoder().encode(JSON.stringify(index, null, 2) + "\n"),
  );
  await stale(new Set([...names, format.index]));
  return [...names, format.index];
}

/**
 * Saves `tensors` into `dir` as HF does with `safe_serialization=True`: one `model.safetensors`
 * when everything fits in `maxShardSize`, else `model-0000i-of-0000n.safetensors` shards plus
 * `model.safetensors.index.json` (`{"metadata": {"total_size"}, "weight_map"}`). Shards are
 * filled in the tensors' order, a new shard starting when the next tensor would not fit. Every
 * file is written crash-safely, the index last; stale shards of an earlier save are removed.
 * Returns the file names written.
 *
 * @example
 * ```ts ignore
 * import { saveShardedSafetensors } from "./state_dict.ts";
 * await saveShardedSafetensors("out", tensors, { maxShardSize: "200MB" });
 * ```
 */
export async function saveShardedSafetensors(
  dir: string,
  tensors: TensorDict,
  opts: SaveShardedOptions = {},
): Promise<string[]> {
  const metadata = opts.metadata ?? { format: "pt" };
  return await saveSharded(dir, tensors, opts.maxShardSize ?? "5GB", {
    single: "model.safetensors",
    index: "model.safetensors.index.json",
    shardPattern: /^model-\d{5}-of-\d{5}\.safetensors$/,
    shard: (i, n) => `model-${i}-of-${n}.safetensors`,
    aliasing: false,
    write: (path, t) => saveSafetensorsFile(path, t, metadata),
  });
}

/** Options of `saveShardedTorch`. */
export interface SaveShardedTorchOptions {
  /** Largest shard, in bytes or as `"5GB"`; default `"5GB"` (HF's default). */
  maxShardSize?: number | string;
}

/**
 * Saves `tensors` into `dir` as HF does with `safe_serialization=False`: one `pytorch_model.bin`
 * (`torch.save` layout) when everything fits in `maxShardSize`, else
 * `pytorch_model-0000i-of-0000n.bin` shards plus `pytorch_model.bin.index.json`. Tensors sharing
 * one `data` array (tied weights) are one storage: written once, in the shard of the first, and
 * counted once in `total_size`, as HF's `shard_checkpoint`. Returns the file names written.
 *
 * @example
 * ```ts ignore
 * import { saveShardedTorch } from "./state_dict.ts";
 * await saveShardedTorch("out", tensors, { maxShardSize: "200MB" });
 * ```
 */
export async function saveShardedTorch(
  dir: string,
  tensors: TensorDict,
  opts: SaveShardedTorchOptions = {},
): Promise<string[]> {
  return await saveSharded(dir, tensors, opts.maxShardSize ?? "5GB", {
    single: "pytorch_model.bin",
    index: "pytorch_model.bin.index.json",
    shardPattern: /^pytorch_model-\d{5}-of-\d{5}\.bin$/,
    shard: (i, n) => `pytorch_model-${i}-of-${n}.bin`,
    aliasing: true,
    write: saveTorchCheckpointFile,
  });
}
