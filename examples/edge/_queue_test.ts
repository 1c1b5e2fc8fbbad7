import { assertEquals, assertRejects } from "@std/assert";
import { WorkQueue } from "./_queue.ts";

Deno.test("WorkQueue: admits running + waiting requests, refuses the rest, turns in FIFO order", async () => {
  const q = new WorkQueue(1, 2);
  const [a, b, c] = [q.admit()!, q.admit()!, q.admit()!];
  assertEquals(q.admit(), null, "a fourth request is refused");
  assertEquals(q.stats(), { running: 0, waiting: 3, rejected: 1 });
  const never = new AbortController().signal;
  await a.turn(never);
  const order: string[] = [];
  const tc = c.turn(never).then(() => order.push("c"));
  const tb = b.turn(never).then(() => order.push("b"));
  assertEquals(q.stats(), { running: 1, waiting: 2, rejected: 1 });
  a.release();
  await Promise.race([tb, tc]);
  assertEquals(order, ["c"], "the first to ask gets the slot");
  c.release();
  await tb;
  assertEquals(order, ["c", "b"]);
  b.release();
  b.release(); // idempotent
  assertEquals(q.stats(), { running: 0, waiting: 0, rejected: 1 });
  assertEquals(q.retryAfterSeconds() >= 1, true);
});

Deno.test("WorkQueue: an aborted wait leaves the queue and frees its place", async () => {
  const q = new WorkQueue(1, 1);
  const a = q.admit()!;
  const b = q.admit()!;
  await a.turn(new AbortController().signal);
  const ctl = new AbortController();
  const waiting = b.turn(ctl.signal);
  ctl.abort(new Error("client gone"));
  await assertRejects(() => waiting, Error, "client gone");
  b.release();
  assertEquals(q.stats(), { running: 1, waiting: 0, rejected: 0 });
  a.release();
  assertEquals(q.stats(), { running: 0, waiting: 0, rejected: 0 });
  const c = q.admit()!;
  await c.turn(new AbortController().signal); // the slot is free again
  c.release();
});
