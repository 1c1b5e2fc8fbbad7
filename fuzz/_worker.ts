/**
 * Worker side of the fuzz harness: runs one target over a range of input indices and classifies
 * each outcome. Progress lives in shared memory (current index, its start time, counts), so the
 * main thread sees a hang, can terminate this worker at any moment and still knows every count.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { EncdecError } from "@encdec/config";
import { inputSeed, Rand } from "./mutate.ts";
import { seedsOf, targetByName } from "./targets.ts";
import { SLOT, type WorkerMessage, type WorkerRequest } from "./harness.ts";

self.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const { target: name, runSeed, from, to, dir } = ev.data;
  const shared = new Float64Array(ev.data.progress);
  const post = (m: WorkerMessage) => self.postMessage(m);
  const target = targetByName(name);
  const seeds = await seedsOf(target);
  await target.setup?.(dir);
  if (ev.data.checkSeeds) {
    // Every seed must be accepted; otherwise the target tests nothing but its error path.
    const errors: string[] = [];
    for (const s of seeds) {
      try {
        await target.run(s, dir);
      } catch (e) {
        errors.push(String((e as Error)?.message ?? e).slice(0, 300));
      }
    }
    post({ type: "seeds", total: seeds.length, errors });
  }
  for (let i = from; i < to && shared[SLOT.stop] === 0; i++) {
    const input = ev.data.replay ?? await target.generate(new Rand(inputSeed(runSeed, i)), seeds);
    shared[SLOT.index] = i;
    shared[SLOT.started] = Date.now();
    const t0 = performance.now();
    try {
      await target.run(input, dir);
      shared[SLOT.ok]++;
    } catch (e) {
      if (e instanceof EncdecError) shared[SLOT.typed]++;
      else {
        const err = e as Error;
        shared[SLOT.crashes]++;
        post({
          type: "crash",
          index: i,
          kind: err?.constructor?.name ?? typeof e,
          message: String(err?.message ?? e).slice(0, 500),
          stack: String(err?.stack ?? "").split("\n").slice(1, 7).map((l) => l.trim()).join(" | "),
        });
      }
    }
    shared[SLOT.slowestMs] = Math.max(shared[SLOT.slowestMs], performance.now() - t0);
    shared[SLOT.started] = 0;
    shared[SLOT.done]++;
  }
  post({ type: "done" });
};
