/**
 * What touching fresh memory costs on this machine (issue 18, goal 2): allocates 1 GiB three
 * times, writes one byte per 4 KiB page (each write a page fault on a page never touched
 * before), then once more (no faults), and frees it. A load that builds ~1 GB of new weights
 * pays this per page it touches; `/usr/bin/time -f "%R minor faults"` counts them for a command.
 *
 * Usage: `deno run bench/first_touch.ts`; prints one JSON line: µs per page first touched and
 * per page touched again, and the seconds per GiB.
 *
 * @module
 */
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
const median = (v: number[]) => [...v].sort((x, y) => x - y)[v.length >> 1];
console.log(JSON.stringify({
  firstTouchUsPerPage: +median(first).toFixed(2),
  againUsPerPage: +median(again).toFixed(3),
  firstTouchSecondsPerGiB: +(median(first) * (BYTES / PAGE) / 1e6).toFixed(2),
  runs: first.map((x) => +x.toFixed(2)),
}));
