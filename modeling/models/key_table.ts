/**
 * Key tables: the machinery behind each architecture's ONE declarative table of checkpoint keys: a `ParamSpec` per checkpoint
 * key (stored shape, HF initialisation, Conv1D layout, tied alias), turned into backend handles by
 * `materialize` (load from a state dict, or initialise what is missing) and back into a state dict
 * by `exportStateDict` (tied aliases stored once, as HF does).
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { Tensor } from "../tensor.ts";
import { ModelLoadError } from "./errors.ts";
import { NormalRng } from "../random.ts";
import { type LoadingInfo, planLoading } from "./loading_info.ts";

/**
 * How HF's `_init_weights` initialises a parameter (`"sinusoidal"`: DistilBERT's fixed position
 * table, `sin` on even columns and `cos` on odd ones of `pos / 10000^(2⌊j/2⌋/dim)`).
 */
export type InitKind = "normal" | "zeros" | "ones" | "sinusoidal";

/** One row of a key table: a checkpoint key and how to build the field behind it. */
export interface ParamSpec {
  /** Checkpoint key, e.g. `"decoder.bert.encoder.layer.0.attention.self.query.weight"`. */
  key: string;
  /** Shape as stored in the checkpoint. */
  shape: readonly number[];
  /** HF initialisation when the key is not in the checkpoint. */
  init: InitKind;
  /** Standard deviation for `"normal"` (the config's `initializer_range`, or a scaled one). */
  std?: number;
  /** Embedding row zeroed at init (`padding_idx`). */
  paddingIdx?: number;
  /** GPT-2 `Conv1D`: stored `[in, out]`, used as `[out, in]` by `Backend.linear`. */
  conv1d?: boolean;
  /** This key is the same tensor as `tiedTo` (stored once, under `tiedTo`). */
  tiedTo?: string;
}

/** Table builders: the rows of one `nn.Linear` / `nn.LayerNorm` / `nn.Embedding` / `Conv1D`. */
export const row = {
  /** `nn.Linear(inF, outF)`: weight `[out, in]` normal(0, std), bias zeros. */
  linear(prefix: string, outF: number, inF: number, std: number, bias = true): ParamSpec[] {
    const w: ParamSpec = { key: `${prefix}.weight`, shape: [outF, inF], init: "normal", std };
    return bias ? [w, { key: `${prefix}.bias`, shape: [outF], init: "zeros" }] : [w];
  },
  /** GPT-2 `Conv1D(outF, inF)`: weight stored `[in, out]`. */
  conv1d(prefix: string, outF: number, inF: number, std: number): ParamSpec[] {
    return [
      { key: `${prefix}.weight`, shape: [inF, outF], init: "normal", std, conv1d: true },
      { key: `${prefix}.bias`, shape: [outF], init: "zeros" },
    ];
  },
  /** `nn.LayerNorm(n)`: weight ones, bias zeros. */
  layerNorm(prefix: string, n: number): ParamSpec[] {
    return [
      { key: `${prefix}.weight`, shape: [n], init: "ones" },
      { key: `${prefix}.bias`, shape: [n], init: "zeros" },
    ];
  },
  /** `nn.Embedding(n, d, padding_idx)`: normal(0, std), padding row zeroed. */
  embedding(key: string, n: number, d: number, std: number, paddingIdx?: number): ParamSpec {
    return { key, shape: [n, d], init: "normal", std, paddingIdx };
  },
};

/** Prefixes every key (and tie target) of a table. */
export function prefixed(prefix: string, specs: readonly ParamSpec[]): ParamSpec[] {
  return specs.map((s) => ({
    ...s,
    key: `${prefix}.${s.key}`,
    tiedTo: s.tiedTo === undefined ? undefined : `${prefix}.${s.tiedTo}`,
  }));
}

/**
 * Backend handles by checkpoint key, with a candle-like prefix builder:
 * `w.pp("encoder").pp("layer").pp(0).get("attention.self.query.weight")`.
 */
export class ParamView<T> {
  /** A view of `store` (handles by full key) at `prefix`. */
  constructor(
    private readonly store: ReadonlyMap<string, T>,
    /** The prefix of this view, `""` at the root. */
    readonly prefix = "",
  ) {}

  /** A view one level down the key tree. */
  pp(name: string | number): ParamView<T> {
    return new ParamView(this.store, this.prefix ? `${this.prefix}.${name}` : String(name));
  }

  /** The handle of `name` under this prefix. */
  get(name: string): T {
    const key = this.prefix ? `${this.prefix}.${name}` : name;
    const t = this.store.get(key);
    if (t === undefined) throw new ModelLoadError(`no parameter "${key}" in this model`);
    return t;
  }

  /** True when `name` exists under this prefix. */
  has(name: string): boolean {
    return this.store.has(this.prefix ? `${this.prefix}.${name}` : name);
  }
}

export type { LoadingInfo } from "./loading_info.ts";

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `[r, c]` → `[c, r]` (float32). */
function transpose2d(t: Tensor<"float32">): Tensor<"float32"> {
  const [r, c] = t.dims;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return new Tensor("float32", out, [c, r]);
}

function initTensor(spec: ParamSpec, rng: NormalRng): Tensor<"float32"> {
  const t = Tensor.zeros(spec.shape, "float32");
  if (spec.init === "ones") t.data.fill(1);
  if (spec.init === "sinusoidal") {
    // HF's create_sinusoidal_embeddings (float64 angles, stored as float32)
    const [rows, dim] = spec.shape;
    for (let pos = 0; pos < rows; pos++) {
      for (let j = 0; j < dim; j++) {
        const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
        t.data[pos * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      }
    }
  }
  if (spec.init === "normal") {
    const std = spec.std ?? 0.02;
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * std;
    if (spec.paddingIdx !== undefined && spec.paddingIdx >= 0 && spec.paddingIdx < spec.shape[0]) {
      const d = spec.shape[1];
      t.data.fill(0, spec.paddingIdx * d, (spec.paddingIdx + 1) * d);
    }
  }
  return t;
}

/** Options of `materialize`. */
export interface MaterializeOptions {
  /** Checkpoint tensors by key; absent keys are initialised. */
  stateDict?: ReadonlyMap<string, Tensor>;
  /** Seed of the initialisation RNG. */
  seed?: number;
  /** Dtype the weights are uploaded in (default float32: half weights are upcast). */
  dtype?: "float32" | "float16" | "bfloat16";
  /** Checkpoint keys that are silently ignored when unexpected (regexes, as HF's lists). */
  ignoreUnexpected?: readonly RegExp[];
  /** Name of the source for error messages. */
  source?: string;
  /** Refuse (ModelLoadError) a checkpoint lacking model keys or holding unexpected ones. */
  strict?: boolean;
}

/** Handles by key, the loading report and the host float32 values (for saving). */
export interface Materialized<T> {
  /** Backend handles by key (tied keys share the handle of their target). */
  handles: Map<string, T>;
  /** What was missing / unexpected. */
  info: LoadingInfo;
}

/**
 * Builds every parameter of `table` on `backend`: taken from `stateDict` (shape checked, half
 * upcast, Conv1D transposed) or initialised like HF. Fails on the first shape mismatch, naming
 * the key, before anything is returned.
 */
export function materialize<T>(
  backend: Backend<T>,
  table: readonly ParamSpec[],
  opts: MaterializeOptions = {},
): Materialized<T> {
  const sd = opts.stateDict ?? new Map<string, Tensor>();
  const source = opts.source ?? "state dict";
  const rng = new NormalRng(opts.seed ?? 0);
  const byKey = new Map(table.map((s) => [s.key, s]));
  // Resolve each key to the root of its tie chain.
  const root = (key: string): string => {
    let k = key;
    for (let i = 0; i < 8; i++) {
      const t = byKey.get(k)?.tiedTo;
      if (t === undefined) return k;
      k = t;
    }
    throw new ModelLoadError(`tie chain of "${key}" does not end`);
  };
  const groups = new Map<string, string[]>();
  for (const s of table) {
    const r = root(s.key);
    if (!byKey.has(r)) throw new ModelLoadError(`"${s.key}" is tied to unknown key "${r}"`);
    groups.set(r, [...(groups.get(r) ?? []), s.key]);
  }

  // Validate shapes of every checkpoint tensor we will use before building anything.
  for (const s of table) {
    const t = sd.get(s.key);
    if (t && !sameShape(t.dims, s.shape)) {
      throw new ModelLoadError(
        `${source}: tensor "${s.key}" has shape [${t.dims.join(", ")}], expected [${
          s.shape.join(", ")
        }]`,
      );
    }
    if (t && !(t.dtype === "float32" || t.dtype === "float16" || t.dtype === "bfloat16")) {
      throw new ModelLoadError(
        `${source}: tensor "${s.key}" has dtype ${t.dtype}, expected a float`,
      );
    }
  }

  // Missing / unexpected keys, layer coverage and `strict`, before anything is allocated.
  const info = planLoading({
    groups,
    checkpointKeys: opts.stateDict ? new Set(sd.keys()) : null,
    ignoreUnexpected: opts.ignoreUnexpected,
    source,
    strict: opts.strict,
  });

  const handles = new Map<string, T>();
  const dtype = opts.dtype ?? "float32";
  for (const [r, members] of groups) {
    const spec = byKey.get(r)!;
    // The tie target first; an alias stored explicitly (legacy .bin files) fills the group too.
    const foundKey = sd.has(r) ? r : members.find((k) => sd.has(k));
    let host: Tensor<"float32">;
    if (foundKey !== undefined) {
      host = sd.get(foundKey)!.toFloat32();
    } else {
      host = initTensor(spec, rng);
    }
    if (spec.conv1d) host = transpose2d(host);
    const h = backend.upload(dtype === "float32" ? host : host.to(dtype));
    for (const k of members) handles.set(k, h);
  }
  return { handles, info };
}

/**
 * The state dict of a model in HF's saved layout: tied aliases dropped (stored once under their
 * target), Conv1D weights back to `[in, out]`.
 */
export async function exportStateDict<T>(
  backend: Backend<T>,
  table: readonly ParamSpec[],
  handles: ReadonlyMap<string, T>,
): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  for (const s of table) {
    if (s.tiedTo !== undefined) continue;
    let t = (await backend.read(handles.get(s.key)!)).toFloat32();
    if (s.conv1d) t = transpose2d(t);
    out.set(s.key, t);
  }
  return out;
}
