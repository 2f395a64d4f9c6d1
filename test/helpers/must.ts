/**
 * A value the test needs to exist, or a failure that says which one was missing: the tests'
 * replacement for the `!` non-null assertion, which would let `undefined` flow on and fail
 * later with an unrelated TypeError.
 */
export function must<T>(value: T | null | undefined, what = 'value'): T {
  if (value === null || value === undefined) throw new Error(`expected ${what} to be present, got ${String(value)}`);
  return value;
}
