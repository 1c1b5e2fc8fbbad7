// What one generate() call may allocate is bounded (issue 19 item 13): `--num-beams 100000`, the
// same in a generation_config.json, huge batches and lengths are refused up front with a
// GenerationConfigError naming the option and the bound, before the encoder runs.
import { assertEquals, assertRejects } from "@std/assert";
import { GENERATION_LIMITS, GenerationConfig, GenerationConfigError } from "@encdec/config";
import { generate } from "./generate.ts";
import { StubModel } from "./testdata/stub_model.ts";

const CFG = { decoder_start_token_id: 1, eos_token_id: 2, pad_token_id: 0 };
const tiny = (v = 5) => new StubModel(v, () => new Float32Array(v));

Deno.test("limits: numBeams 100000 (option or generation_config.json) is refused naming num_beams and the bound", async () => {
  for (
    const opts of [
      { generationConfig: CFG, numBeams: 100_000, maxLength: 2 },
      { generationConfig: { ...CFG, num_beams: 100_000, max_length: 2 } },
      {
        generationConfig: GenerationConfig.fromJSON(
          { ...CFG, num_beams: 100_000, max_length: 2 },
          { file: "generation_config.json" },
        ),
      },
    ]
  ) {
    const m = tiny();
    await assertRejects(
      () => generate(m, [[5, 6]], opts),
      GenerationConfigError,
      `num_beams is 100000; expected a positive integer of at most ${GENERATION_LIMITS.numBeams}`,
    );
    assertEquals(m.encodeCalls, 0);
  }
});

Deno.test("limits: numReturnSequences and maxLength have bounds too", async () => {
  await assertRejects(
    () =>
      generate(tiny(), [[5]], {
        generationConfig: CFG,
        doSample: true,
        numReturnSequences: 5000,
        maxLength: 2,
      }),
    GenerationConfigError,
    "num_return_sequences is 5000; expected a positive integer of at most 1024",
  );
  await assertRejects(
    () => generate(tiny(), [[5]], { generationConfig: CFG, maxNewTokens: 2 ** 21 }),
    GenerationConfigError,
    "max_new_tokens is 2097152",
  );
});

Deno.test("limits: rows × vocabulary per step over GENERATION_LIMITS.stepScores is refused before the encoder", async () => {
  const m = tiny(70_000);
  const batch = Array.from({ length: 2000 }, () => [5, 6]); // 2000 × 70000 = 1.4e8 > 2^27
  await assertRejects(
    () => generate(m, batch, { generationConfig: CFG, maxLength: 2 }),
    GenerationConfigError,
    "2000 × 1 beam(s)/sequence(s) × vocabulary 70000 = 140000000 scores per step; at most 134217728",
  );
  assertEquals(m.encodeCalls, 0);
});

Deno.test("limits: a batch of long inputs over GENERATION_LIMITS.attentionCells is refused", async () => {
  const batch = Array.from({ length: 300_000 }, () => [5]); // 300000 tokens > 262144
  await assertRejects(
    () => generate(tiny(), batch, { generationConfig: CFG, maxLength: 2 }),
    GenerationConfigError,
    "GENERATION_LIMITS.inputTokens",
  );
  const wide = Array.from({ length: 64 }, () => Array.from({ length: 1024 }, () => 5));
  await assertRejects(
    () => generate(tiny(), wide, { generationConfig: CFG, maxLength: 2 }),
    GenerationConfigError,
    "GENERATION_LIMITS.attentionCells",
  );
  // A large but reasonable call still runs: 128 inputs of 512 tokens, 4 beams.
  const ok = Array.from({ length: 128 }, () => Array.from({ length: 512 }, () => 5));
  const out = await generate(tiny(), ok, { generationConfig: CFG, maxLength: 2, numBeams: 4 });
  assertEquals(out.sequences.length, 128);
});
