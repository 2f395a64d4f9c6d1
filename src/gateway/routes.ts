/**
 * Gateway routes: which public path prefix leads to which upstream application, and how a
 * request target under a prefix becomes the upstream's target. Pure functions, no I/O.
 */

export interface GatewayRoute {
  /** public path prefix, relative to the base URL: `/tracker` (no trailing slash) */
  prefix: string;
  /** the upstream's origin and base path (no trailing slash): `http://127.0.0.1:8080/app` */
  upstream: URL;
}

// First path segments applink serves itself (matched case-insensitively, as Express
// routes are): a route there would shadow the protocol, the pages or the probes.
export const RESERVED_SEGMENTS: ReadonlySet<string> = new Set([
  'oauth',
  'plugins',
  'rest',
  'login',
  'logout',
  'setup',
  'profile',
  'admin',
  'healthz',
  'readyz',
  'metrics',
  '.well-known',
  'static',
  'assets',
  'public',
]);

const PREFIX_SHAPE = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

/**
 * Parses `APPLINK_GATEWAY_ROUTES`: `/prefix=http://upstream[/path]`, comma-separated.
 * Throws an Error whose message says what is wrong (config.ts names the variable).
 * Routes come back longest prefix first, so the most specific one matches.
 */
export function parseGatewayRoutes(value: string): GatewayRoute[] {
  const routes: GatewayRoute[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq === -1) throw new Error(`"${entry}" is not /prefix=http://upstream`);
    const prefix = entry.slice(0, eq).trim();
    const target = entry.slice(eq + 1).trim();
    if (!PREFIX_SHAPE.test(prefix)) {
      throw new Error(
        `prefix "${prefix}" must be a path like /tracker (letters, digits, - _ ~ . per segment, no trailing slash)`,
      );
    }
    // (the shape starts with '/': the first segment is the text after it)
    const first = (prefix.split('/')[1] ?? '').toLowerCase();
    if (RESERVED_SEGMENTS.has(first)) throw new Error(`prefix "${prefix}" collides with applink's own /${first}`);
    let upstream: URL;
    try {
      upstream = new URL(target);
    } catch {
      throw new Error(`upstream "${target}" of ${prefix} is not an absolute URL`);
    }
    if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
      throw new Error(`upstream of ${prefix} must be http: or https:`);
    }
    if (upstream.search || upstream.hash || upstream.username || upstream.password) {
      throw new Error(`upstream of ${prefix} must have no query, fragment or credentials`);
    }
    upstream.pathname = upstream.pathname.replace(/\/+$/, '');
    if (routes.some((r) => r.prefix === prefix)) throw new Error(`prefix ${prefix} is given twice`);
    routes.push({ prefix, upstream });
  }
  return routes.sort((a, b) => b.prefix.length - a.prefix.length);
}

export interface RouteMatch {
  route: GatewayRoute;
  /** the path after the prefix, raw as received, always starting with `/` */
  rest: string;
  /** the raw query after `?`, or '' */
  query: string;
}

/** Finds the route for a raw request target (path relative to the base path, plus query). */
export function matchRoute(routes: readonly GatewayRoute[], url: string): RouteMatch | null {
  if (routes.length === 0) return null;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  for (const route of routes) {
    if (!path.startsWith(route.prefix)) continue;
    const rest = path.slice(route.prefix.length);
    if (rest !== '' && rest[0] !== '/') continue;
    const hash = q === -1 ? -1 : url.indexOf('#', q);
    const query = q === -1 ? '' : url.slice(q + 1, hash === -1 ? undefined : hash);
    return { route, rest: rest === '' ? '/' : rest, query };
  }
  return null;
}

/**
 * Why a path (the part after the route prefix) is not canonical, or null when it is.
 *
 * Canonical means that every server resolves it to the very bytes applink verified and
 * sends: what the upstream receives is base path + this path, byte for byte, so nothing in
 * it may be read differently by another server. Refused:
 * - dot segments (`.`, `..`, and any segment of only dots and encoded spaces, which
 *   Windows servers trim to `..`), and empty segments (`//`) except a trailing slash;
 * - `;` (Servlet containers cut path parameters off before resolving, so `..;` is `..`)
 *   and `\` (read as `/` by some servers), raw or encoded;
 * - percent-encodings of `/`, `%` (double encoding), and of unreserved characters
 *   (`%2e` is `.` to a server that normalises: RFC 3986 §6.2.2.2), of control characters
 *   and NUL; malformed escapes (`%u002e`, `%4`), invalid or overlong UTF-8;
 * - encoded non-ASCII text that Unicode compatibility normalisation (NFKC) turns into
 *   `.`, `/`, `\`, `;` or `%` (fullwidth `．`, `／`), which some platforms apply;
 * - any raw character outside RFC 3986's pchar (space, quotes, `<>{}|^\``, `#`,
 *   non-ASCII bytes, controls).
 */
export function nonCanonicalPath(rest: string): string | null {
  const n = rest.length;
  let segStart = 1; // rest[0] is always '/'
  let onlyDots = true; // the current segment so far holds only dots and encoded spaces
  let dots = 0;
  for (let i = 1; i <= n; i++) {
    const c = i === n ? 0x2f : rest.charCodeAt(i);
    if (c === 0x2f) {
      const len = i - segStart;
      if (len === 0) {
        if (i !== n) return 'The path must not contain empty segments (//).';
      } else if (onlyDots && dots > 0) {
        return 'The path must not contain . or .. segments.';
      }
      segStart = i + 1;
      onlyDots = true;
      dots = 0;
      continue;
    }
    if (c === 0x2e) {
      dots++;
      continue;
    }
    if (c === 0x25) {
      const b = hexByte(rest, i + 1);
      if (b < 0) return 'The path holds a malformed percent-encoding.';
      if (b >= 0x80) {
        // a run of encoded bytes: strict UTF-8 (no overlong forms, no surrogates)
        const bytes: number[] = [];
        let j = i;
        while (j < n && rest.charCodeAt(j) === 0x25) {
          const x = hexByte(rest, j + 1);
          if (x < 0x80) break;
          bytes.push(x);
          j += 3;
        }
        let text: string;
        try {
          text = UTF8.decode(Uint8Array.from(bytes));
        } catch {
          return 'The path holds percent-encoded bytes that are not valid UTF-8.';
        }
        if (LOOKALIKE.test(text.normalize('NFKC'))) {
          return 'The path holds a character that normalises to a path delimiter.';
        }
        onlyDots = false;
        i = j - 1;
        continue;
      }
      if (b === 0x20) {
        i += 2;
        continue; // an encoded space keeps a dots-only segment dots-only
      }
      if (!ENCODABLE[b]) return `The path must not contain ${rest.slice(i, i + 3)} (not canonical).`;
      onlyDots = false;
      i += 2;
      continue;
    }
    if (c >= 0x80 || !PCHAR[c]) {
      return 'The path holds a character that must not appear in it (such as ; \\ or a space).';
    }
    onlyDots = false;
  }
  return null;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const LOOKALIKE = /[./\\;%\u0000-\u001f\u007f]/;

function hexByte(s: string, at: number): number {
  if (at + 1 >= s.length) return -1;
  const h = hexDigit(s.charCodeAt(at));
  const l = hexDigit(s.charCodeAt(at + 1));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const table = (chars: string): boolean[] => {
  const t: boolean[] = new Array<boolean>(128).fill(false);
  for (const ch of chars) t[ch.charCodeAt(0)] = true;
  return t;
};
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// RFC 3986 pchar, less ';' (path parameters); '.' and '%' are handled on their own.
const PCHAR = table(`${ALNUM}-_~!$&'()*+,=:@`);
// Printable ASCII that may appear percent-encoded: not unreserved, not / \\ ; %.
const ENCODABLE = table(`!"#$&'()*+,:<=>?@[]^\`{|}`);

/** The upstream request target: base path + rest + the query without its `oauth_*` pairs. */
export function upstreamTarget(match: RouteMatch): string {
  const base = match.route.upstream.pathname === '/' ? '' : match.route.upstream.pathname;
  const query = withoutOAuthPairs(match.query);
  return `${base}${match.rest}${query === '' ? '' : `?${query}`}`;
}

/**
 * Drops every `oauth_*` pair from a form-encoded string (a query or a form body), keeping
 * the other pairs byte for byte (no re-encoding). Names are compared decoded, as
 * collectParams reads them, so `oauth%5Fsignature` goes too.
 */
export function withoutOAuthPairs(form: string): string {
  if (form.indexOf('oauth') === -1 && form.indexOf('%') === -1) return form;
  return form
    .split('&')
    .filter((part) => !isOAuthName(part))
    .join('&');
}

function isOAuthName(part: string): boolean {
  const eq = part.indexOf('=');
  let name = eq === -1 ? part : part.slice(0, eq);
  if (name.indexOf('%') !== -1 || name.indexOf('+') !== -1) {
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // Verification already rejected malformed names; keep the bytes as they are.
    }
  }
  return name.startsWith('oauth_');
}
