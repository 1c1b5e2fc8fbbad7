// Golden parity of fine-tuning with the Python reference (`bert2bert/grads.json`, made by
// `generate_grads.py` against transformers 4.40.2 / torch, float32): every parameter's gradient
// of `model(input_ids, attention_mask, labels).loss.backward()` with dropout 0 in train mode
// (|Δ| <= 1e-4 abs), the parameters the loss does not reach, and five steps of AdamW
// (lr 1e-3, wd 0.01 except biases / LayerNorm weights, linear warm-up 2 of 10 steps,
// clip_grad_norm_ 1.0): losses, grad norms before clipping, lrs, loss after, one parameter after
// the steps, all within 1e-4.
import { assert, assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import {
  AdamW,
  AutogradBackend,
  AutogradError,
  clipGradNorm,
  decayGroups,
  EncoderDecoderModel,
  getLinearScheduleWithWarmup,
  loadStateDict,
  OrtCpuBackend,
  resolveDevice,
} from "@encdec/modeling";

const DIR = new URL("./testdata/fixtures/bert2bert/", import.meta.url).pathname;

interface Grads {
  loss: number;
  grads: Record<string, unknown>;
  params_without_grad: string[];
  adamw: {
    losses: number[];
    grad_norms_before_clip: number[];
    lrs: number[];
    loss_after: number;
    param_after: Record<string, unknown>;
  };
}

const golden: Grads = JSON.parse(await Deno.readTextFile(`${DIR}grads.json`));
const raw = JSON.parse(await Deno.readTextFile(`${DIR}goldens.json`)).inputs;
const inputs = {
  inputIds: raw.input_ids as number[][],
  attentionMask: raw.attention_mask as number[][],
  labels: raw.labels as number[][],
};

function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}

/** The fixture model on the autograd device with dropout 0 (as the reference), train mode. */
async function load(device: string | AutogradBackend = "autograd"): Promise<EncoderDecoderModel> {
  const config = JSON.parse(await Deno.readTextFile(`${DIR}config.json`));
  for (const side of [config.encoder, config.decoder]) {
    side.hidden_dropout_prob = 0;
    side.attention_probs_dropout_prob = 0;
  }
  const sd = await loadStateDict(DIR);
  return new EncoderDecoderModel(config, {
    stateDict: sd.tensors,
    device: await resolveDevice(device),
  }).train();
}

function maxAbsDiff(a: ArrayLike<number>, b: readonly number[]): number {
  assertEquals(a.length, b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("bert2bert: every gradient matches grads.json within 1e-4", async () => {
  await checkGradients(await load());
});

Deno.test("bert2bert with every matmul on onnxruntime: gradients match within 1e-4", async () => {
  const ort = new AutogradBackend(await OrtCpuBackend.create({ minMacs: 1 }));
  await checkGradients(await load(ort));
});

async function checkGradients(model: EncoderDecoderModel): Promise<void> {
  const out = await model.forward(inputs);
  assertAlmostEquals(out.loss!.item(), golden.loss, 1e-5);
  await out.loss!.backward();
  const named = [...model.namedParameters()];
  const withGrad = named.filter(([, p]) => p.grad !== null).map(([n]) => n);
  assertEquals(withGrad.sort(), Object.keys(golden.grads).sort());
  const without = named.filter(([, p]) => p.grad === null).map(([n]) => n);
  assertEquals(without.sort(), [...golden.params_without_grad].sort());
  for (const [name, p] of named) {
    if (p.grad === null) continue;
    const want = flat(golden.grads[name]);
    const d = maxAbsDiff(p.grad.data, want);
    assert(d <= 1e-4, `${name}: max |grad - golden| = ${d}`);
  }
}

Deno.test("bert2bert: eval-mode gradients equal train-mode gradients with dropout 0", async () => {
  const a = await load();
  await (await a.forward(inputs)).loss!.backward();
  const b = (await load()).eval();
  await (await b.forward(inputs)).loss!.backward();
  const gb = new Map(b.namedParameters());
  for (const [name, p] of a.namedParameters()) {
    const q = gb.get(name)!;
    if (p.grad === null) {
      assertEquals(q.grad, null, name);
      continue;
    }
    assertEquals(Array.from(q.grad!.data), Array.from(p.grad.data), name);
  }
  // zeroGrad clears them all
  b.zeroGrad();
  assert([...b.namedParameters()].every(([, p]) => p.grad === null));
});

Deno.test("bert2bert: five AdamW steps (HF decay groups, warm-up schedule, clipping) match", async () => {
  const model = await load();
  const opt = new AdamW(decayGroups(model.namedParameters(), 0.01), {
    lr: 1e-3,
    betas: [0.9, 0.999],
    eps: 1e-8,
  });
  const sched = getLinearScheduleWithWarmup(opt, 2, 10);
  const params = model.parameters();
  const want = golden.adamw;
  for (let step = 0; step < 5; step++) {
    const out = await model.forward(inputs);
    assertAlmostEquals(out.loss!.item(), want.losses[step], 1e-4, `loss before step ${step}`);
    await out.loss!.backward();
    const norm = clipGradNorm(params, 1.0);
    assertAlmostEquals(norm, want.grad_norms_before_clip[step], 1e-4, `grad norm ${step}`);
    assertAlmostEquals(opt.paramGroups[0].lr, want.lrs[step], 1e-10, `lr ${step}`);
    opt.step();
    sched.step();
    opt.zeroGrad();
  }
  const after = await model.forward(inputs);
  assertAlmostEquals(after.loss!.item(), want.loss_after, 1e-4, "loss after five steps");
  const named = new Map(model.namedParameters());
  for (const [name, value] of Object.entries(want.param_after)) {
    const d = maxAbsDiff(named.get(name)!.value.data as Float32Array, flat(value));
    assert(d <= 1e-4, `${name} after five steps: max |Δ| = ${d}`);
  }
});

Deno.test("training API on a device without a tape fails with typed errors", async () => {
  const model = await EncoderDecoderModel.fromPretrained(DIR);
  const out = await model.forward(inputs);
  await assertRejects(() => out.loss!.backward(), AutogradError, "autograd");
  let err: unknown;
  try {
    [...model.namedParameters()];
  } catch (e) {
    err = e;
  }
  assert(err instanceof AutogradError && err.message.includes('device: "autograd"'));
});
