/**
 * What touching fresh memory costs on this machine (issue 18, goal 2): allocates 1 GiB three
 * times, writes one byte per 4 KiB page (each write a page fault on a page never touched
 * before), then once more (no faults), and frees it. A load that builds ~1 GB of new weights
 * pays this per page it touches; `/usr/bin/time -f "%R minor faults"` counts them for a command.
 *
 * With a file argument it also reads that file into a fresh buffer of its size (as the `.bin`
 * loader does) and then reads one byte per page of the buffer, twice: what the first pass over
 * just-read bytes costs (the CRC-32 of a checkpoint is that pass).
 *
 * Usage: `deno run -A bench/first_touch.ts [file]`; prints one JSON line: µs per page first
 * touched and per page touched again, the seconds per GiB, and for a file the read's seconds and
 * the two passes' seconds and page faults.
 *
 * @module
 */
import { readFileOrThrow } from "../modeling/weights/_file_io.ts";
import { median, minorFaults as faults } from "./_stats.ts";
const PAGE = 4096;
const BYTES = 2 ** 30;
const first: number[] = [];
const again: number[] = [];
for (let k = 0; k < 3; k++) {
  const a = new Uint8Array(BYTES);
  const t0 = performance.now();
  for (let i = 0; i < a.length; i += PAGE) a[i] = 1;
  const t1 = performance.now();
  for (let i = 0; i < a.length; i += PAGE) a[i] = 2;
  const t2 = performance.now();
  first.push((t1 - t0) * 1000 / (BYTES / PAGE));
  again.push((t2 - t1) * 1000 / (BYTES / PAGE));
  a.buffer.transfer(0);
}

/** Reads `path` into a fresh buffer, then passes over it twice, one byte per page. */
async function afterRead(path: string) {
  let t = performance.now(), f = faults();
  const bytes = await readFileOrThrow(path);
  const read = { seconds: (performance.now() - t) / 1000, faults: faults() - f };
  const passes = [];
  for (let k = 0; k < 2; k++) {
    t = performance.now(), f = faults();
    let sum = 0;
    for (let i = 0; i < bytes.length; i += PAGE) sum += bytes[i];
    passes.push({ seconds: (performance.now() - t) / 1000, faults: faults() - f, sum });
  }
  return { file: path, bytes: bytes.length, read, passes };
}

console.log(JSON.stringify({
  firstTouchUsPerPage: +median(first).toFixed(2),
  againUsPerPage: +median(again).toFixed(3),
  firstTouchSecondsPerGiB: +(median(first) * (BYTES / PAGE) / 1e6).toFixed(2),
  runs: first.map((x) => +x.toFixed(2)),
  ...(Deno.args[0] ? { afterRead: await afterRead(Deno.args[0]) } : {}),
}));
