/**
 * Measurement script (not a test): accuracy of the fp16-storage and int8 precisions against the
 * fp32 goldens of every fixture model: max |Δ logit| of the teacher-forced forward, top-1
 * agreement per position, and whether greedy decoding (max_new_tokens 20) equals the golden.
 *
 * Usage: `deno run -A bench/onnx/accuracy.ts`
 *
 * @module
 */
import { OnnxEncoderDecoder } from "../../modeling/backends/onnx/mod.ts";
import {
  argmax,
  FIXTURES,
  forwardLogits,
  greedy,
  maxAbsDiff,
  MODELS,
  readGoldens,
} from "../../modeling/backends/onnx/_test_util.ts";

console.log("| model | precision | max abs Δ logit | top-1 agreement | greedy = fp32 golden |");
console.log("| --- | --- | --- | --- | --- |");
for (const name of MODELS) {
  const g = await readGoldens(name);
  for (const precision of ["fp32", "fp16", "int8"] as const) {
    const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}${name}`, {
      runtime: "node",
      precision,
    });
    const lg = await forwardLogits(model, g);
    const V = model.vocabSize;
    let agree = 0, total = 0;
    g.forward.logits.forEach((row, b) =>
      row.forEach((pos, t) => {
        const off = (b * row.length + t) * V;
        if (g.forward.decoder_attention_mask[b][t] === 0) return;
        total++;
        if (argmax(lg.data.subarray(off, off + V)) === argmax(pos)) agree++;
      })
    );
    const seqs = await greedy(model, name, g);
    const same = JSON.stringify(seqs) === JSON.stringify(g.generate.greedy.sequences);
    console.log(
      `| ${name} | ${precision} | ${maxAbsDiff(lg.data, g.forward.logits).toExponential(2)} | ` +
        `${agree}/${total} | ${same ? "yes" : "no"} |`,
    );
    await model.release();
  }
}
