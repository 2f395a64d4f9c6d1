/**
 * Where a browser may be sent after signing in, out or up: `next` from a query, a form or
 * our own request line. One function decides it for every use (redirects, the sign-in
 * form's hidden field, the single-sign-on-only page's "continue" link, sign-out), and it
 * decides the way a browser will read it: the value is resolved with the WHATWG URL parser
 * (the one browsers use, which drops tabs and newlines, reads `\` as `/` and resolves dot
 * segments), and only a path on our own origin, under our base path, is kept. What is
 * returned is the parser's own serialisation of that path, so what we check is what the
 * browser follows.
 */

/** Stands for our origin when none is known: the parser's rules do not depend on the host. */
const PLACEHOLDER_ORIGIN = 'http://applink.invalid';

/** Longest `next` kept; longer ones are replaced by the default, not cut. */
export const NEXT_MAX_LENGTH = 2048;

// C0 controls, space and DEL: browsers strip or drop them before parsing, so a value
// holding one means something other than it shows (`/\t/evil.example` is `//evil.example`).
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u0020\u007f]/;

/**
 * `next` as a path on our own origin under `basePath`, or null. `origin` is the public
 * origin (scheme://host[:port]) when known.
 */
export function sameOriginPath(next: unknown, basePath: string, origin: string = PLACEHOLDER_ORIGIN): string | null {
  if (typeof next !== 'string' || next.length === 0 || next.length > NEXT_MAX_LENGTH) return null;
  if (INVISIBLE.test(next)) return null;
  // A path, written as one: `/x`, never `//host`, `/\host`, `\\host`, `https:…` or `x`.
  if (next[0] !== '/' || next[1] === '/' || next[1] === '\\') return null;
  let base: URL;
  let url: URL;
  try {
    base = new URL(`${origin}/`);
    url = new URL(next, base);
  } catch {
    return null;
  }
  if (url.origin !== base.origin || url.username || url.password) return null;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // After dot segments are resolved (`/./` + `/evil.example`), a path may itself start with
  // `//`: as a Location it would name another host.
  if (!path.startsWith('/') || path.startsWith('//') || path.includes('\\')) return null;
  if (basePath && path !== basePath && !path.startsWith(`${basePath}/`) && !path.startsWith(`${basePath}?`))
    return null;
  // The serialisation must read back as itself: a second parse changes nothing.
  const again = new URL(path, base);
  if (again.href !== url.href) return null;
  return path;
}

/** `next` if it is one of our own paths (see sameOriginPath), else the signed-in home page. */
export function safeNext(next: unknown, basePath: string, origin?: string): string {
  return sameOriginPath(next, basePath, origin) ?? `${basePath}/profile/authorized-apps`;
}
