/**
 * The message of anything thrown: an Error's message, the `message` of an error-like object
 * (a driver's or another realm's error), else the value as text.
 */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}
