/**
 * The message of anything thrown: an Error's message, the `message` of an error-like object
 * (a driver's or another realm's error), else the value as text.
 */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}

/** The first line of the message of anything thrown (a driver's multi-line message or stack stays out of one-line reports). */
export function firstLine(e: unknown): string {
  return errorMessage(e).split('\n')[0] ?? '';
}
