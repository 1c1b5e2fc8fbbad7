/**
 * GPT-2, top to bottom: config → key table → block (ln_1 → causal self-attention, optional
 * ln_cross_attn → cross-attention, ln_2 → MLP, pre-norm residuals) → `GPT2Model` (wte + wpe,
 * blocks, ln_f) → `GPT2LMHeadModel` (`lm_head` tied to `wte`).
 *
 * GPT-2's `Conv1D` weights are stored `[in, out]`; the key table marks them (`row.conv1d`) and
 * loading transposes them once to the `[out, in]` that `Backend.linear` takes.
 *
 * @module
 */
import type { Activation, Backend } from "../backend.ts";
import type { KeyValue } from "./cache.ts";
import {
  attentionWithDropout,
  causalPaddingMask,
  checkActivationAndHeads,
  checkIds,
  dropout,
  mergeHeads,
  paddingMask,
  positionIds,
  splitHeads,
} from "./_layers.ts";
import type { DecoderArgs, DecoderStack, StackOutput } from "./stacks.ts";
import { ModelInputError } from "./errors.ts";
import { type ParamSpec, type ParamView, row } from "./key_table.ts";

/** The fields of HF's `GPT2Config` read here. */
export interface GPT2ConfigLike {
  /** Rows of `wte`. */
  vocab_size: number;
  /** Width. */
  n_embd: number;
  /** Number of blocks. */
  n_layer: number;
  /** Attention heads. */
  n_head: number;
  /** MLP width; `null` means `4 * n_embd`. */
  n_inner?: number | null;
  /** Rows of `wpe`. */
  n_positions: number;
  /** MLP activation (`"gelu_new"`, ...). */
  activation_function: string;
  /** LayerNorm epsilon. */
  layer_norm_epsilon: number;
  /** Std of HF's normal initialisation. */
  initializer_range: number;
  /** Divide attention scores by `sqrt(headDim)` (default true). */
  scale_attn_weights?: boolean;
  /** Also divide by `layer_idx + 1`. */
  scale_attn_by_inverse_layer_idx?: boolean;
  /** Cross-attention blocks. */
  add_cross_attention?: boolean;
  /** `lm_head` tied to `wte` (default true). */
  tie_word_embeddings?: boolean;
  /** Dropout after wte + wpe in training mode (HF default 0.1). */
  embd_pdrop?: number;
  /** Dropout on attention probabilities in training mode. */
  attn_pdrop?: number;
  /** Dropout on each residual branch's output in training mode. */
  resid_pdrop?: number;
}

const ACTIVATIONS: readonly Activation[] = [
  "gelu",
  "gelu_new",
  "gelu_pytorch_tanh",
  "relu",
  "tanh",
];

/** Key table of `GPT2LMHeadModel`: `transformer.*` + `lm_head.weight` (tied to `wte`). */
export function gpt2LMHeadTable(cfg: GPT2ConfigLike): ParamSpec[] {
  const E = cfg.n_embd, inner = cfg.n_inner ?? 4 * E, std = cfg.initializer_range;
  const projStd = std / Math.sqrt(2 * cfg.n_layer); // HF scales every c_proj.weight at init
  const t: ParamSpec[] = [
    row.embedding("transformer.wte.weight", cfg.vocab_size, E, std),
    row.embedding("transformer.wpe.weight", cfg.n_positions, E, std),
  ];
  for (let i = 0; i < cfg.n_layer; i++) {
    const p = `transformer.h.${i}`;
    t.push(
      ...row.layerNorm(`${p}.ln_1`, E),
      ...row.conv1d(`${p}.attn.c_attn`, 3 * E, E, std),
      ...row.conv1d(`${p}.attn.c_proj`, E, E, projStd),
    );
    if (cfg.add_cross_attention) {
      t.push(
        ...row.layerNorm(`${p}.ln_cross_attn`, E),
        ...row.conv1d(`${p}.crossattention.q_attn`, E, E, std),
        ...row.conv1d(`${p}.crossattention.c_attn`, 2 * E, E, std),
        ...row.conv1d(`${p}.crossattention.c_proj`, E, E, projStd),
      );
    }
    t.push(
      ...row.layerNorm(`${p}.ln_2`, E),
      ...row.conv1d(`${p}.mlp.c_fc`, inner, E, std),
      ...row.conv1d(`${p}.mlp.c_proj`, E, inner, projStd),
    );
  }
  t.push(...row.layerNorm("transformer.ln_f", E));
  t.push({
    key: "lm_head.weight",
    shape: [cfg.vocab_size, E],
    init: "normal",
    std,
    tiedTo: (cfg.tie_word_embeddings ?? true) ? "transformer.wte.weight" : undefined,
  });
  return t;
}

/** Buffers older GPT-2 checkpoints store that HF ignores on load. */
export const GPT2_IGNORE_UNEXPECTED: RegExp[] = [/\.(attn|crossattention)\.(masked_)?bias$/];

/** HF's `GPT2Model` with cross-attention (keys under `transformer.`). */
export class GPT2Model<T> {
  /** MLP activation. */
  private readonly act: Activation;

  /** Builds the model over handles `w` (keys `wte`, `wpe`, `h.*`, `ln_f`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: GPT2ConfigLike,
    /** Handles under `transformer.`. */
    readonly w: ParamView<T>,
  ) {
    this.act = checkActivationAndHeads(
      "decoder",
      ACTIVATIONS,
      { field: "activation_function", value: config.activation_function },
      { field: "n_embd", value: config.n_embd },
      { field: "n_head", value: config.n_head },
    );
  }

  /** LayerNorm with `w.weight` / `w.bias` and GPT-2's epsilon. */
  private ln(x: T, w: ParamView<T>): T {
    return this.backend.layerNorm(
      x,
      w.get("weight"),
      w.get("bias"),
      this.config.layer_norm_epsilon,
    );
  }

  /** A `Conv1D` (loaded as `[out, in]`) with `w.weight` / `w.bias`, then `act`. */
  private conv(x: T, w: ParamView<T>, act?: Activation): T {
    return this.backend.linear(x, w.get("weight"), w.get("bias"), act);
  }

  /** Runs wte + wpe, the blocks and ln_f on the new tokens. */
  forward(args: DecoderArgs<T>): StackOutput<T> {
    const b = this.backend, cfg = this.config, E = cfg.n_embd;
    const past = args.past?.length ?? 0;
    let x: T; // [b, t, E]
    if (args.inputsEmbeds !== undefined) x = args.inputsEmbeds;
    else {
      if (!args.inputIds) {
        throw new ModelInputError("decoder: neither input ids nor embeddings given");
      }
      checkIds(args.inputIds, cfg.vocab_size, "decoder input_ids");
      x = b.embedding(this.w.get("wte.weight"), b.upload(args.inputIds));
    }
    const t = b.dims(x)[1];
    const pos = positionIds(b, past, t, cfg.n_positions, "decoder", "n_positions");
    x = b.add(x, b.embedding(this.w.get("wpe.weight"), pos));
    const rng = args.dropout; // training mode
    x = dropout(b, x, cfg.embd_pdrop, rng);

    if (args.attentionMask && args.attentionMask.dims[1] !== past + t) {
      throw new ModelInputError(
        `decoder: attention_mask has ${args.attentionMask.dims[1]} columns, expected ${
          past + t
        } (past ${past} + new ${t})`,
      );
    }
    const selfMask = args.attentionMask ? causalPaddingMask(b, args.attentionMask, t) : undefined;
    const crossMask = args.encoderAttentionMask
      ? paddingMask(b, args.encoderAttentionMask)
      : undefined;
    const hiddenStates: T[] | undefined = args.outputHiddenStates ? [] : undefined;
    const attentions: T[] | undefined = args.outputAttentions ? [] : undefined;
    const crossAttentions: T[] | undefined = args.outputAttentions && cfg.add_cross_attention
      ? []
      : undefined;
    const selfKV: KeyValue<T>[] = [];
    const crossKV: KeyValue<T>[] = [];
    const heads = (y: T) => splitHeads(b, y, cfg.n_head); // [b, t, E] -> [b, h, t, d]

    for (let i = 0; i < cfg.n_layer; i++) {
      hiddenStates?.push(x);
      const w = this.w.pp("h").pp(i);
      let scale = (cfg.scale_attn_weights ?? true) ? 1 / Math.sqrt(E / cfg.n_head) : 1;
      if (cfg.scale_attn_by_inverse_layer_idx) scale /= i + 1;

      // causal self-attention (pre-norm)
      const qkv = this.conv(this.ln(x, w.pp("ln_1")), w.pp("attn.c_attn")); // [b, t, 3E]
      let kv: KeyValue<T> = {
        key: heads(b.slice(qkv, 2, E, 2 * E)),
        value: heads(b.slice(qkv, 2, 2 * E, 3 * E)),
      };
      const cached = args.past?.self[i];
      if (cached) {
        kv = {
          key: b.concat([cached.key, kv.key], 2),
          value: b.concat([cached.value, kv.value], 2),
        };
      }
      selfKV.push(kv);
      const sa = attentionWithDropout(
        b,
        heads(b.slice(qkv, 2, 0, E)),
        kv.key,
        kv.value,
        {
          mask: selfMask,
          causal: !selfMask,
          scale,
          returnProbs: !!attentions,
        },
        cfg.attn_pdrop,
        rng,
      );
      attentions?.push(sa.probs!);
      const saOut = this.conv(mergeHeads(b, sa.output), w.pp("attn.c_proj"));
      x = b.add(x, dropout(b, saOut, cfg.resid_pdrop, rng));

      // cross-attention on the encoder output; K/V computed once
      if (cfg.add_cross_attention) {
        let ckv = args.past?.cross[i];
        if (!ckv) {
          if (args.encoderHiddenStates === undefined) {
            throw new ModelInputError(
              "decoder: cross-attention needs encoder_hidden_states or a cache holding them",
            );
          }
          const kvAll = this.conv(args.encoderHiddenStates, w.pp("crossattention.c_attn")); // [b, s, 2E]
          ckv = { key: heads(b.slice(kvAll, 2, 0, E)), value: heads(b.slice(kvAll, 2, E, 2 * E)) };
        }
        crossKV.push(ckv);
        const q = heads(
          this.conv(this.ln(x, w.pp("ln_cross_attn")), w.pp("crossattention.q_attn")),
        );
        const ca = attentionWithDropout(
          b,
          q,
          ckv.key,
          ckv.value,
          {
            mask: crossMask,
            scale,
            returnProbs: !!crossAttentions,
          },
          cfg.attn_pdrop,
          rng,
        );
        crossAttentions?.push(ca.probs!);
        const caOut = this.conv(mergeHeads(b, ca.output), w.pp("crossattention.c_proj"));
        x = b.add(x, dropout(b, caOut, cfg.resid_pdrop, rng));
      }

      // MLP
      const h = this.conv(this.ln(x, w.pp("ln_2")), w.pp("mlp.c_fc"), this.act); // [b, t, inner]
      x = b.add(x, dropout(b, this.conv(h, w.pp("mlp.c_proj")), cfg.resid_pdrop, rng));
    }
    x = this.ln(x, this.w.pp("ln_f"));
    hiddenStates?.push(x);
    return {
      lastHiddenState: x,
      hiddenStates,
      attentions,
      crossAttentions,
      self: selfKV,
      cross: cfg.add_cross_attention ? crossKV : undefined,
    };
  }
}

/** HF's `GPT2LMHeadModel`: `GPT2Model` under `transformer.` and a bias-free `lm_head` tied to `wte`. */
export class GPT2LMHeadModel<T> implements DecoderStack<T> {
  /** The base model (`transformer.*`). */
  readonly transformer: GPT2Model<T>;
  /** Width. */
  readonly hiddenSize: number;
  /** Logits width. */
  readonly vocabSize: number;

  /** Builds the decoder over handles `w` (keys `transformer.*`, `lm_head.weight`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: GPT2ConfigLike,
    /** Handles under this module's prefix. */
    readonly w: ParamView<T>,
  ) {
    this.transformer = new GPT2Model(backend, config, w.pp("transformer"));
    this.hiddenSize = config.n_embd;
    this.vocabSize = config.vocab_size;
  }

  /** Decoder stack + LM head: logits `[batch, t, vocab]`. */
  forward(args: DecoderArgs<T>): StackOutput<T> & { logits: T } {
    const out = this.transformer.forward(args);
    return {
      ...out,
      logits: this.backend.linear(out.lastHiddenState, this.w.get("lm_head.weight")),
    };
  }
}
