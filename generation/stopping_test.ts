import { assertEquals, assertThrows } from "@std/assert";
import { GenerationError } from "./errors.ts";
import {
  EosTokenCriteria,
  MaxLengthCriteria,
  MaxNewTokensCriteria,
  MaxTimeCriteria,
  StoppingCriteriaList,
  StopStringCriteria,
} from "./stopping.ts";

Deno.test("stopping criteria: hand-checked per-row answers", () => {
  assertEquals(new MaxLengthCriteria(3).isDone([[1, 2], [1, 3]]), [false, false]);
  assertEquals(new MaxLengthCriteria(2).isDone([[1, 2], [1, 3]]), [true, true]);
  assertEquals(new MaxNewTokensCriteria(1, 2).isDone([[1, 2, 3]]), [true]);
  assertEquals(new EosTokenCriteria([3, 7]).isDone([[1, 7], [1, 5], [1, 3]]), [true, false, true]);
  let now = 0;
  const t = new MaxTimeCriteria(0.5, undefined, () => now);
  assertEquals(t.isDone([[1]]), [false]);
  now = 600; // ms
  assertEquals(t.isDone([[1]]), [true]);
  const letters = (ids: readonly number[]) => ids.map((i) => "abc."[i]).join("");
  const s = new StopStringCriteria(["c.", "aa"], letters, 1);
  // the decoder prompt (first id) is not decoded
  assertEquals(s.isDone([[0, 2, 3], [0, 0], [0, 0, 0], [2, 3]]), [true, false, true, false]);
  const l = new StoppingCriteriaList([new MaxLengthCriteria(4), new EosTokenCriteria(3)]);
  assertEquals(l.isDone([[1, 3], [1, 2]]), [true, false]);
  assertThrows(() => new StopStringCriteria([], letters), GenerationError, "stopStrings");
  assertThrows(() => new MaxLengthCriteria(0), GenerationError, "maxLength");
});
