/**
 * Longformer as an encoder, top to bottom: config → key table → `LongformerModel` (RoBERTa's
 * embeddings and positions; each layer's self-attention is local, a sliding window of
 * `attention_window / 2` tokens on each side, plus global attention for the tokens a caller marks
 * in `globalAttentionMask`).
 *
 * Exact, not an approximation: the inputs are padded to a multiple of the largest window (pad id,
 * mask 0) and cut back afterwards as HF's `_pad_to_window_size` does; the window is a band mask
 * over full attention (the same scores HF's chunked computation produces), padded query rows get
 * a zero attention output, and global tokens' rows are recomputed with `query_global`,
 * `key_global`, `value_global` over every non-padded token, as HF's
 * `_compute_global_attn_output_from_hidden`.
 *
 * Cost: the band is a mask over full attention, so time and memory grow as `t²` per head (as
 * BERT's), not `t · window` as HF's chunked kernel; exactness over speed for long inputs.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { bertBaseTable, type BertConfigLike } from "./bert.ts";
import { RobertaModel } from "./roberta.ts";
import {
  anyNonZero,
  attentionWithDropout,
  maskValues,
  oneMinus,
  paddingMask,
  padToWindow,
  rowSelector,
  slidingWindowMask,
} from "./_layers.ts";
import { ModelInputError, ModelLoadError } from "./errors.ts";
import { type ParamSpec, type ParamView, row } from "./key_table.ts";
import type { DecoderArgs, EncoderArgs, EncoderStack, StackOutput } from "./stacks.ts";
import { Tensor } from "../tensor.ts";

// ---- config ------------------------------------------------------------------------------------

/** HF's `LongformerConfig` fields read here (BERT's, plus the attention window). */
export interface LongformerConfigLike extends BertConfigLike {
  /** Local attention width (both sides together): one even value, or one per layer. */
  attention_window: number | number[];
}

/** Per-layer attention windows, checked as HF's `LongformerModel.__init__` asserts them. */
export function longformerWindows(cfg: LongformerConfigLike, name: string): number[] {
  const w = cfg.attention_window;
  const list = typeof w === "number" ? Array(cfg.num_hidden_layers).fill(w) : [...w];
  if (list.length !== cfg.num_hidden_layers) {
    throw new ModelLoadError(
      `${name}: attention_window has ${list.length} values, expected num_hidden_layers = ${cfg.num_hidden_layers}`,
    );
  }
  for (const v of list) {
    if (!Number.isInteger(v) || v <= 0 || v % 2 !== 0) {
      throw new ModelLoadError(
        `${name}: attention_window ${v} is not a positive even number`,
      );
    }
  }
  return list;
}

// ---- key table ---------------------------------------------------------------------------------

/**
 * Key table of `LongformerModel` (with pooler): RoBERTa's embeddings and layers, and per layer
 * `attention.self.{query,key,value}_global`.
 */
export function longformerModelTable(cfg: LongformerConfigLike): ParamSpec[] {
  const H = cfg.hidden_size, std = cfg.initializer_range;
  const t = bertBaseTable(cfg, {
    tokenTypes: true,
    pooler: true,
    positionPaddingIdx: cfg.pad_token_id ?? 1,
  });
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}.attention.self`;
    const at = t.findIndex((s) => s.key === `${p}.value.bias`) + 1;
    t.splice(
      at,
      0,
      ...row.linear(`${p}.query_global`, H, H, std),
      ...row.linear(`${p}.key_global`, H, H, std),
      ...row.linear(`${p}.value_global`, H, H, std),
    );
  }
  return t;
}

// ---- the model ---------------------------------------------------------------------------------

/**
 * HF's `LongformerModel` as an encoder: RoBERTa's embeddings, sliding-window + global
 * self-attention, BERT's output and feed-forward blocks. `globalAttentionMask` `[batch, len]`
 * marks the global tokens (as HF's `global_attention_mask`).
 */
export class LongformerModel<T> extends RobertaModel<T> implements EncoderStack<T> {
  /** Takes `globalAttentionMask`. */
  readonly globalAttention = true;
  /** Attention window of each layer (both sides together). */
  readonly windows: number[];

  /** Builds the encoder over handles `w` (keys `embeddings.*`, `encoder.layer.*`). */
  constructor(
    backend: Backend<T>,
    /** The config. */
    override readonly config: LongformerConfigLike,
    w: ParamView<T>,
    name = "longformer",
  ) {
    super(backend, config, w, name);
    if (config.is_decoder || config.add_cross_attention) {
      throw new ModelLoadError(
        `${name}: Longformer is an encoder only (is_decoder and add_cross_attention must be false)`,
      );
    }
    this.windows = longformerWindows(config, name);
  }

  /** Runs embeddings and layers on inputs padded to the window, then cuts the padding off. */
  override forward(args: EncoderArgs<T>): StackOutput<T> {
    const b = this.backend, cfg = this.config;
    if (args.outputAttentions) {
      throw new ModelInputError(
        `${this.name}: outputAttentions is not supported for Longformer (HF returns banded local attentions)`,
      );
    }
    const len = args.inputIds ? args.inputIds.dims[1] : b.dims(args.inputsEmbeds!)[1];
    const batch = args.inputIds ? args.inputIds.dims[0] : b.dims(args.inputsEmbeds!)[0];
    const global = args.globalAttentionMask;
    if (global && (global.dims[0] !== batch || global.dims[1] !== len)) {
      throw new ModelInputError(
        `${this.name}: global_attention_mask is [${global.dims}], expected [${batch}, ${len}]`,
      );
    }
    const pad = cfg.pad_token_id ?? 1;
    // HF pads to a multiple of the largest window (its chunked kernel needs it). Over the band
    // mask the padded keys are masked and their rows cut, so a tracing backend (symbolic length)
    // skips the padding: the same numbers for every real row.
    const window = b.tracing ? 1 : Math.max(...this.windows);
    const p = padToWindow(args.inputIds, args.attentionMask, global, [batch, len], window, pad);
    let embeds = args.inputsEmbeds;
    if (embeds !== undefined && p.padding > 0) {
      // HF pads inputs_embeds with the embeddings of the pad id
      const padIds = new Tensor("int32", new Int32Array(batch * p.padding).fill(pad), [
        batch,
        p.padding,
      ]);
      const padEmb = b.embedding(this.w.get("embeddings.word_embeddings.weight"), b.upload(padIds));
      embeds = b.concat([embeds, padEmb], 1);
    }
    const embedArgs: DecoderArgs<T> = {
      inputIds: p.ids,
      inputsEmbeds: embeds,
      dropout: args.dropout,
    };
    let x = this.embed(embedArgs, 0); // [b, T, H]

    // A traced graph keeps the global branch (exact: rows without global tokens select 0 of it).
    const hasGlobal = p.global !== undefined && (!!b.tracing || anyNonZero(p.global));
    const keep = maskValues(b, p.mask); // [b, T] 0/1
    // HF: a padded token is never global
    const globalKeep = hasGlobal ? b.mul(maskValues(b, p.global!), keep) : undefined;
    const queryKeep = rowSelector(b, keep); // [b, 1, T, 1]: padded queries get output 0
    const globalRows = globalKeep && rowSelector(b, globalKeep);
    const localRows = globalRows && oneMinus(b, globalRows);
    const keyPadding = hasGlobal ? paddingMask(b, p.mask) : undefined; // global rows: [b, 1, 1, T]
    const rows = cfg.max_position_embeddings + Math.max(...this.windows);
    const scale = 1 / Math.sqrt(cfg.hidden_size / cfg.num_attention_heads);
    const hiddenStates = args.outputHiddenStates ? [x] : undefined;
    const masks = new Map<number, T>();

    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      const w = this.w.pp("encoder.layer").pp(i);
      const sa = w.pp("attention.self");
      const oneSided = this.windows[i] / 2;
      let band = masks.get(oneSided);
      if (band === undefined) {
        band = slidingWindowMask(b, keep, globalKeep, oneSided, Math.max(rows, b.dims(keep)[1]));
        masks.set(oneSided, band);
      }
      // local (+ global keys) attention for every query; padded query rows zeroed
      let out = b.mul(
        attentionWithDropout(
          b,
          this.heads(sa, "query", x),
          this.heads(sa, "key", x),
          this.heads(sa, "value", x),
          { mask: band, scale },
          cfg.attention_probs_dropout_prob,
          args.dropout,
        ).output,
        queryKeep,
      ); // [b, h, T, d]
      if (hasGlobal) {
        // global query rows: their own projections over every non-padded key
        const g = attentionWithDropout(
          b,
          this.heads(sa, "query_global", x),
          this.heads(sa, "key_global", x),
          this.heads(sa, "value_global", x),
          { mask: keyPadding, scale },
          cfg.attention_probs_dropout_prob,
          args.dropout,
        ).output;
        out = b.add(b.mul(out, localRows!), b.mul(g, globalRows!));
      }
      x = this.attentionOutput(w.pp("attention"), out, x, args.dropout);
      x = this.feedForward(w, x, args.dropout);
      hiddenStates?.push(x);
    }
    const cut = (t: T) => p.padding > 0 ? b.slice(t, 1, 0, len) : t;
    return { lastHiddenState: cut(x), hiddenStates: hiddenStates?.map(cut) };
  }
}
