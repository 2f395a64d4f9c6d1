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
    const first = prefix.split('/')[1]!.toLowerCase();
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

// `.` or `..` as a path segment, literally or percent-encoded, with `/` or `\` as separators
// (some servers treat a backslash as a slash): it could climb out of the upstream's base path.
const DOT_SEGMENT = /(?:^|\/|\\|%2f|%5c)(?:\.|%2e){1,2}(?=$|\/|\\|%2f|%5c)/i;

export function hasDotSegment(rest: string): boolean {
  return DOT_SEGMENT.test(rest);
}

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
