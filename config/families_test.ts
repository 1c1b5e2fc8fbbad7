// The config classes of the families added for issue 16 (XLM-R, CamemBERT, ELECTRA, DistilBERT,
// Longformer): HF 4.40.2's defaults (the values of `XConfig()` in transformers 4.40.2), the
// attribute-map aliases, and the checks HF makes when it builds the model.
import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  AutoConfig,
  CamembertConfig,
  ConfigError,
  DistilBertConfig,
  ElectraConfig,
  LongformerConfig,
  XLMRobertaConfig,
} from "./mod.ts";

function pick(d: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, d[k]]));
}

Deno.test("XLMRobertaConfig / CamembertConfig: HF defaults (vocab 30522, pad 1, bos 0, eos 2)", () => {
  for (
    const [cls, type] of [[XLMRobertaConfig, "xlm-roberta"], [
      CamembertConfig,
      "camembert",
    ]] as const
  ) {
    const d = new cls().toDict();
    assertEquals(
      pick(d, [
        "model_type",
        "vocab_size",
        "hidden_size",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "type_vocab_size",
        "max_position_embeddings",
      ]),
      {
        model_type: type,
        vocab_size: 30522,
        hidden_size: 768,
        pad_token_id: 1,
        bos_token_id: 0,
        eos_token_id: 2,
        type_vocab_size: 2,
        max_position_embeddings: 512,
      },
    );
    assertInstanceOf(AutoConfig.fromJSON({ model_type: type }), cls);
  }
});

Deno.test("ElectraConfig: HF defaults (embedding 128, hidden 256, 4 heads, intermediate 1024, pad 0)", () => {
  const d = new ElectraConfig().toDict();
  assertEquals(
    pick(d, [
      "embedding_size",
      "hidden_size",
      "num_attention_heads",
      "num_hidden_layers",
      "intermediate_size",
      "pad_token_id",
      "bos_token_id",
      "summary_type",
      "summary_activation",
    ]),
    {
      embedding_size: 128,
      hidden_size: 256,
      num_attention_heads: 4,
      num_hidden_layers: 12,
      intermediate_size: 1024,
      pad_token_id: 0,
      bos_token_id: null,
      summary_type: "first",
      summary_activation: "gelu",
    },
  );
});

Deno.test("DistilBertConfig: HF defaults and attribute_map (hidden_size ↔ dim, ...)", () => {
  const c = new DistilBertConfig();
  assertEquals(
    pick(c.toDict(), [
      "dim",
      "n_layers",
      "n_heads",
      "hidden_dim",
      "activation",
      "sinusoidal_pos_embds",
      "pad_token_id",
      "seq_classif_dropout",
    ]),
    {
      dim: 768,
      n_layers: 6,
      n_heads: 12,
      hidden_dim: 3072,
      activation: "gelu",
      sinusoidal_pos_embds: false,
      pad_token_id: 0,
      seq_classif_dropout: 0.2,
    },
  );
  const o = c.withOverrides({ hidden_size: 32, num_attention_heads: 4, numHiddenLayers: 2 });
  assertEquals([o.dim, o.nHeads, o.nLayers, o.hiddenSize], [32, 4, 2, 32]);
  assertThrows(
    () => DistilBertConfig.fromJSON({ dim: 30, n_heads: 4 }, { file: "d.json" }),
    ConfigError,
    'd.json: field "dim" = 30 is not a multiple of "n_heads" = 4',
  );
});

Deno.test("LongformerConfig: HF defaults; attention_window even, positive, one per layer", () => {
  const c = new LongformerConfig();
  assertEquals(
    pick(c.toDict(), [
      "attention_window",
      "sep_token_id",
      "pad_token_id",
      "bos_token_id",
      "eos_token_id",
      "vocab_size",
      "onnx_export",
    ]),
    {
      attention_window: 512,
      sep_token_id: 2,
      pad_token_id: 1,
      bos_token_id: 0,
      eos_token_id: 2,
      vocab_size: 30522,
      onnx_export: false,
    },
  );
  assertEquals("position_embedding_type" in c.toDict(), false);
  const list = LongformerConfig.fromJSON({ attention_window: [4, 8], num_hidden_layers: 2 });
  assertEquals([list.windowOfLayer(0), list.windowOfLayer(1)], [4, 8]);
  assertThrows(
    () => LongformerConfig.fromJSON({ attention_window: 5 }, { file: "l.json" }),
    ConfigError,
    'l.json: field "attention_window" holds 5; expected a positive even number',
  );
  assertThrows(
    () =>
      LongformerConfig.fromJSON({ attention_window: [4], num_hidden_layers: 2 }, {
        file: "l.json",
      }),
    ConfigError,
    'l.json: field "attention_window" has 1 values; expected one per layer (num_hidden_layers = 2)',
  );
});
