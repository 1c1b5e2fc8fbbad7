/**
 * Turns user inputs (`number[][]` or a `Tensor`) into the host id / mask tensors the models take,
 * with typed errors naming the argument, row and value.
 *
 * @module
 */
import { Tensor } from "../tensor.ts";
import type { EncoderStack, Ids, Mask } from "./stacks.ts";
import { ModelInputError } from "./errors.ts";

function values(
  input: number[][] | Tensor,
  name: string,
): { data: number[]; dims: [number, number] } {
  if (input instanceof Tensor) {
    if (input.dims.length !== 2) {
      throw new ModelInputError(
        `${name}: expected shape [batch, len], got [${input.dims.join(", ")}]`,
      );
    }
    const data = new Array<number>(input.size);
    for (let i = 0; i < data.length; i++) data[i] = input.get(i);
    return { data, dims: [input.dims[0], input.dims[1]] };
  }
  if (!Array.isArray(input) || input.length === 0 || !input.every(Array.isArray)) {
    throw new ModelInputError(`${name}: expected a non-empty number[][] [batch, len]`);
  }
  const len = input[0].length;
  const data: number[] = [];
  input.forEach((r, i) => {
    if (r.length !== len) {
      throw new ModelInputError(`${name}: row ${i} has ${r.length} items, row 0 has ${len}`);
    }
    data.push(...r);
  });
  if (len === 0) {
    throw new ModelInputError(`${name}: rows are empty, expected at least one position`);
  }
  return { data, dims: [input.length, len] };
}

/** Ids `[batch, len]` as int32; integers only (the vocabulary range is checked by the model). */
export function toIds(input: number[][] | Tensor, name: string): Ids {
  const { data, dims } = values(input, name);
  const out = new Int32Array(data.length);
  data.forEach((v, i) => {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
      throw new ModelInputError(
        `${name}[${Math.floor(i / dims[1])}][${i % dims[1]}] = ${v} is not a token id (an integer)`,
      );
    }
    out[i] = v;
  });
  return new Tensor("int32", out, dims);
}

/** A 0/1 mask `[batch, len]` as float32. */
export function toMask(input: number[][] | Tensor, name: string): Mask {
  const { data, dims } = values(input, name);
  const out = new Float32Array(data.length);
  data.forEach((v, i) => {
    if (v !== 0 && v !== 1) {
      throw new ModelInputError(
        `${name}[${Math.floor(i / dims[1])}][${i % dims[1]}] = ${v}, expected 0 or 1`,
      );
    }
    out[i] = v;
  });
  return new Tensor("float32", out, dims);
}

/** Labels `[batch, len]`: ids in `[0, vocab)` or -100 (ignored). */
export function toLabels(input: number[][] | Tensor, vocab: number): Ids {
  const ids = toIds(input, "labels");
  const len = ids.dims[1];
  ids.data.forEach((v, i) => {
    if (v !== -100 && (v < 0 || v >= vocab)) {
      throw new ModelInputError(
        `labels[${Math.floor(i / len)}][${
          i % len
        }] = ${v} is outside the vocabulary [0, ${vocab}) and not -100`,
      );
    }
  });
  return ids;
}

/** HF's `shift_tokens_right`: `[start, labels[:-1]]` with -100 → pad; `[batch, len]`. */
export function shiftTokensRight(labels: Ids, pad: number | null, start: number | null): Ids {
  if (start === null) {
    throw new ModelInputError(
      "labels given without decoder_input_ids, but config.decoder_start_token_id is not set: set it to shift labels right",
    );
  }
  if (pad === null) {
    throw new ModelInputError(
      "labels given without decoder_input_ids, but config.pad_token_id is not set: set it to replace -100 in the shifted labels",
    );
  }
  const [n, t] = labels.dims;
  const out = new Int32Array(n * t);
  for (let r = 0; r < n; r++) {
    out[r * t] = start;
    for (let c = 1; c < t; c++) {
      const v = labels.data[r * t + c - 1];
      out[r * t + c] = v === -100 ? pad : v;
    }
  }
  return new Tensor("int32", out, [n, t]);
}

/** Throws a `ModelInputError` naming `what` when two batch sizes differ. */
export function sameBatch(a: number, b: number, what: string): void {
  if (a !== b) throw new ModelInputError(`batch size mismatch: ${what} (${a} vs ${b})`);
}

/**
 * The `globalAttentionMask` a caller hands the encoder (HF's `global_attention_mask`), checked:
 * 0/1 `[batch, len]` of the encoder input, for an encoder that takes it (Longformer); any other
 * encoder rejects it, as HF's `forward` rejects an unexpected keyword argument.
 */
export function toGlobalAttentionMask(
  input: number[][] | Tensor,
  encoder: EncoderStack<unknown>,
  inputDims: readonly number[] | undefined,
): Mask {
  if (!encoder.globalAttention) {
    throw new ModelInputError(
      `global_attention_mask: the encoder (${encoder.constructor.name}) takes no global attention (only Longformer encoders do)`,
    );
  }
  const mask = toMask(input, "global_attention_mask");
  if (inputDims && (mask.dims[0] !== inputDims[0] || mask.dims[1] !== inputDims[1])) {
    throw new ModelInputError(
      `global_attention_mask is [${mask.dims.join(", ")}], expected the input's [${
        inputDims.join(", ")
      }]`,
    );
  }
  return mask;
}
