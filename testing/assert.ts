/**
 * A small subset of `@std/assert`, implemented on `node:assert/strict`.
 *
 * JSR (and so `@std/assert`) is unreachable on our machines. Tests import from `@std/assert`,
 * which the root import map points here; switching to the real package is one line in
 * `deno.json` (`"@std/assert": "jsr:@std/assert@^1"`).
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg?: string): asserts expr {
  nodeAssert.ok(expr, msg);
}

/** Deep structural equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Deep structural inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** `Object.is` equality. */
export function assertStrictEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.strictEqual(actual, expected, msg);
}

/** `|actual - expected| <= tolerance` (default 1e-7, as in `@std/assert`). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (!(delta <= tolerance)) {
    throw new nodeAssert.AssertionError({
      message: msg ??
        `Expected actual: "${actual}" to be close to "${expected}": delta "${delta}" is greater than "${tolerance}"`,
      actual,
      expected,
    });
  }
}

/** Asserts that `value` is an instance of `type`. */
export function assertInstanceOf<T extends abstract new (...args: never[]) => unknown>(
  value: unknown,
  type: T,
  msg?: string,
): asserts value is InstanceType<T> {
  nodeAssert.ok(value instanceof type, msg ?? `Expected value to be an instance of ${type.name}`);
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/** Asserts that `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    msg ?? `Expected actual: "${actual}" to contain: "${expected}"`,
  );
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

function checkError<E extends Error>(
  err: unknown,
  ErrorType?: ErrorClass<E>,
  msgIncludes?: string,
): E {
  if (ErrorType && !(err instanceof ErrorType)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error to be instance of "${ErrorType.name}", but got "${
        (err as Error)?.constructor?.name
      }": ${(err as Error)?.message}`,
    });
  }
  if (msgIncludes !== undefined && !String((err as Error)?.message).includes(msgIncludes)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error message to include "${msgIncludes}", but got "${
        (err as Error)?.message
      }"`,
    });
  }
  return err as E;
}

/** Asserts that `fn` throws (optionally an instance of `ErrorType` whose message includes `msgIncludes`). */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorType?: ErrorClass<E>,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (err) {
    return checkError(err, ErrorType, msgIncludes);
  }
  throw new nodeAssert.AssertionError({ message: "Expected function to throw." });
}

/** Asserts that the promise returned by `fn` rejects (optionally with `ErrorType` / `msgIncludes`). */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorType?: ErrorClass<E>,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    return checkError(err, ErrorType, msgIncludes);
  }
  throw new nodeAssert.AssertionError({ message: "Expected function to reject." });
}
