import { assertEquals, assertThrows } from "@std/assert";
import { checkActivationAndHeads } from "./_layers.ts";
import { ModelLoadError } from "./errors.ts";

const ACTS = ["gelu", "relu"] as const;

Deno.test("checkActivationAndHeads: returns the activation; names the module, the config's own field and value", () => {
  assertEquals(
    checkActivationAndHeads(
      "encoder",
      ACTS,
      { field: "activation", value: "relu" },
      { field: "dim", value: 32 },
      { field: "n_heads", value: 4 },
    ),
    "relu",
  );
  assertThrows(
    () =>
      checkActivationAndHeads(
        "decoder",
        ACTS,
        { field: "activation_function", value: "swish" },
        { field: "n_embd", value: 32 },
        { field: "n_head", value: 4 },
      ),
    ModelLoadError,
    'decoder: activation_function "swish" is not supported (expected one of gelu, relu)',
  );
  assertThrows(
    () =>
      checkActivationAndHeads(
        "encoder",
        ACTS,
        { field: "hidden_act", value: "gelu" },
        { field: "hidden_size", value: 30 },
        { field: "num_attention_heads", value: 4 },
      ),
    ModelLoadError,
    "encoder: hidden_size 30 is not a multiple of num_attention_heads 4",
  );
});
