// `signal` cancels generation and the loop yields to the event loop between decode steps
// (issue 19 item 14: a burst of generations must not starve timers, I/O or other requests).
import { assert, assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import { EncdecError } from "@encdec/config";
import { generate } from "./generate.ts";
import { GenerationAbortedError, GenerationError } from "./errors.ts";
import { StubModel } from "./testdata/stub_model.ts";

// Never emits eos (id 2): token 3 always wins, so only maxLength or an abort ends a call.
const endless = () => new StubModel(5, () => [-9, -9, -9, 0, -1]);
const CFG = { decoder_start_token_id: 1, eos_token_id: 2, pad_token_id: 0 };

for (
  const mode of [{ numBeams: 1 }, { numBeams: 3 }, {
    numBeams: 4,
    numBeamGroups: 2,
    diversityPenalty: 0.5,
  }]
) {
  Deno.test(`abort: a timer's abort stops generation mid-run (${JSON.stringify(mode)})`, async () => {
    const m = endless();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error("client went away")), 30);
    const err = await assertRejects(
      () =>
        generate(m, [[5, 6]], {
          generationConfig: CFG,
          maxLength: 200_000,
          signal: ac.signal,
          ...mode,
        }),
      GenerationAbortedError,
      "client went away",
    );
    clearTimeout(timer);
    assertInstanceOf(err, EncdecError);
    assert(!(err instanceof GenerationError), "an abort is not a bad setting");
    // the timer could only fire because the loop yielded a macrotask between steps
    assert(err.step > 0 && err.step < 200_000, `stopped after ${err.step} steps`);
    assertEquals(m.decodeCalls, err.step); // no decode step after the abort was seen
  });
}

Deno.test("abort: an already aborted signal throws before the encoder runs", async () => {
  const m = endless();
  const err = await assertRejects(
    () => generate(m, [[5, 6]], { generationConfig: CFG, signal: AbortSignal.abort("stop") }),
    GenerationAbortedError,
  );
  assertEquals(err.reason, "stop");
  assertEquals(err.step, 0);
  assertEquals(m.encodeCalls, 0);
});

Deno.test("abort: timers run between decode steps without a signal too (event loop stays live)", async () => {
  let ticks = 0;
  const iv = setInterval(() => ticks++, 1);
  const out = await generate(endless(), [[5, 6]], { generationConfig: CFG, maxLength: 3000 });
  clearInterval(iv);
  assertEquals(out.sequences[0].length, 3000);
  assert(ticks > 0, "no timer ran during 3000 decode steps");
});

Deno.test("abort: a signal that never aborts changes nothing", async () => {
  const a = await generate(endless(), [[5, 6]], {
    generationConfig: CFG,
    maxLength: 7,
    numBeams: 2,
  });
  const b = await generate(endless(), [[5, 6]], {
    generationConfig: CFG,
    maxLength: 7,
    numBeams: 2,
    signal: new AbortController().signal,
  });
  assertEquals(b, a);
});
