/**
 * Which headers cross the gateway.
 *
 * Towards the upstream: an allowlist. Only the request headers named in
 * FORWARDED_REQUEST_HEADERS (plus APPLINK_GATEWAY_FORWARD_HEADERS) pass, minus any the
 * client named in Connection (RFC 9110 §7.6.1); the Cookie header passes without the
 * cookies applink owns (its session cookie and the single sign-on cookie). Everything a
 * client could use to pose as someone else (Remote-User, X-Auth-Request-*, X-Original-URL,
 * Cf-Access-Jwt-Assertion, ...) is simply never on the list; applink then adds its own
 * identity and forwarding headers, which are always its own.
 *
 * Back to the client: the upstream's headers minus the hop-by-hop ones and minus anything
 * that would change applink's own state in the browser (cookies applink owns, and
 * origin-wide policies: HSTS, Clear-Site-Data, Alt-Svc, NEL, service worker scope); every
 * response is sandboxed (see GATEWAY_CSP).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Request headers forwarded by default: content negotiation, conditional and range
 * requests, caching, the body's description, the user agent, and the anti-XSRF markers
 * Atlassian applications and many frameworks look for.
 */
export const FORWARDED_REQUEST_HEADERS: readonly string[] = [
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-type',
  'cookie',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'pragma',
  'range',
  'user-agent',
  'x-atlassian-token',
  'x-requested-with',
];

/**
 * Names APPLINK_GATEWAY_FORWARD_HEADERS may not add: what applink sets itself, what belongs
 * to one hop, and the identity headers other proxies and servers trust.
 */
export function forbiddenForwardHeader(lowerName: string): boolean {
  return (
    HOP_BY_HOP.has(lowerName) ||
    NEVER_FORWARDED.has(lowerName) ||
    lowerName.startsWith('x-applink-') ||
    lowerName.startsWith('x-forwarded-') ||
    lowerName.startsWith('x-auth-request-') ||
    lowerName.startsWith('cf-') ||
    lowerName.indexOf('_') !== -1
  );
}

// RFC 9110 §7.6.1 and the old ones still seen in the wild.
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

const NEVER_FORWARDED: ReadonlySet<string> = new Set([
  'host',
  'expect',
  'authorization',
  'applink-jwt-assertion',
  'forwarded',
  'via',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'remote-user',
  'x-remote-user',
  'x-user',
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** Cookies applink owns: never sent to an upstream, never set by one. */
export interface OwnedCookies {
  /** lower-cased names */
  names: ReadonlySet<string>;
}

export interface HeaderPolicy {
  /** lower-cased request header names forwarded */
  forward: ReadonlySet<string>;
  owned: OwnedCookies;
}

export function headerPolicy(extraForward: readonly string[], ownedCookieNames: readonly string[]): HeaderPolicy {
  return {
    forward: new Set([...FORWARDED_REQUEST_HEADERS, ...extraForward.map((n) => n.toLowerCase())]),
    owned: { names: new Set(ownedCookieNames.map((n) => n.toLowerCase())) },
  };
}

export interface Identity {
  assertion: string;
  username: string;
  consumerKey: string;
}

export interface Forwarding {
  /** the client's address as applink sees it */
  clientIp: string;
  /** `http` or `https`, as the client addressed applink */
  proto: string;
  /** host[:port] the client addressed */
  host: string;
  /** public path of the route: base path + prefix */
  prefix: string;
}

/** Header values must be visible ASCII; anything else is sent percent-encoded. */
const headerSafe = (v: string) => (/^[\x21-\x7e]+$/.test(v) ? v : encodeURIComponent(v));

/**
 * The Connection header lower-cased when it may name other headers; null for none or for
 * the common bare `keep-alive` / `close`, so most calls skip the search entirely.
 */
function connectionNames(connection: string | undefined): string | null {
  if (connection === undefined) return null;
  const lower = connection.toLowerCase();
  return lower === 'keep-alive' || lower === 'close' ? null : lower;
}

/** True when a lower-cased Connection value (comma-separated tokens) names `name`. */
function namedIn(lower: string, name: string): boolean {
  let from = 0;
  for (;;) {
    const at = lower.indexOf(name, from);
    if (at === -1) return false;
    const end = at + name.length;
    const before = lower.slice(0, at).trimEnd();
    const after = lower.slice(end).trimStart();
    if ((before === '' || before.endsWith(',')) && (after === '' || after.startsWith(','))) return true;
    from = end;
  }
}

/**
 * The Cookie header without the cookies applink owns; null when nothing is left.
 * (Node joins repeated Cookie headers with "; ".)
 */
export function filterCookieHeader(cookie: string, owned: OwnedCookies): string | null {
  let kept = '';
  for (const part of cookie.split(';')) {
    const t = part.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    // a pair without '=' is a nameless cookie's value: compare it as a name too
    if (owned.names.has((eq === -1 ? t : t.slice(0, eq)).trimEnd().toLowerCase())) continue;
    kept = kept === '' ? t : `${kept}; ${t}`;
  }
  return kept === '' ? null : kept;
}

export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  policy: HeaderPolicy,
  upstreamHost: string,
  identity: Identity,
  fwd: Forwarding,
  bodyLength: number | null,
): OutgoingHttpHeaders {
  const named = connectionNames(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    if (!policy.forward.has(name)) continue;
    const value = incoming[name];
    if (value === undefined) continue;
    if (named !== null && namedIn(named, name)) continue;
    if (name === 'cookie') {
      const kept = filterCookieHeader(value as string, policy.owned);
      if (kept !== null) out.cookie = kept;
      continue;
    }
    if (bodyLength !== null && name === 'content-length') continue;
    out[name] = value;
  }
  if (bodyLength !== null) out['content-length'] = String(bodyLength);
  out.host = upstreamHost;
  out['applink-jwt-assertion'] = identity.assertion;
  out['x-applink-user'] = headerSafe(identity.username);
  out['x-applink-consumer'] = headerSafe(identity.consumerKey);
  out['x-forwarded-for'] = fwd.clientIp;
  out['x-forwarded-proto'] = fwd.proto;
  out['x-forwarded-host'] = fwd.host;
  out['x-forwarded-prefix'] = fwd.prefix;
  out.via = incoming.via ? `${incoming.via}, 1.1 applink` : '1.1 applink';
  return out;
}

/**
 * The sandbox every gateway response is served in. The upstream's pages run in an opaque
 * origin: their script cannot read applink's pages (no CORS), cannot read or write
 * applink's cookies, and the browser does not treat them as applink. Scripts, forms and
 * popups still work inside that sandbox (popups inherit it).
 */
export const GATEWAY_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

// Response headers that act on the whole origin (applink's too), not on the one response.
const ORIGIN_WIDE: ReadonlySet<string> = new Set([
  'strict-transport-security',
  'clear-site-data',
  'alt-svc',
  'nel',
  'report-to',
  'service-worker-allowed',
  'public-key-pins',
  'public-key-pins-report-only',
  'expect-ct',
  'set-cookie2',
]);

/** The name a Set-Cookie value sets, as a browser reads it (lower-cased); '' for a nameless one. */
function setCookieName(value: string): string {
  const semi = value.indexOf(';');
  const pair = semi === -1 ? value : value.slice(0, semi);
  const eq = pair.indexOf('=');
  // A pair without '=' is a nameless cookie (its value sent alone): name ''.
  return eq === -1 ? '' : pair.slice(0, eq).trim().toLowerCase();
}

/**
 * Upstream Set-Cookie values, each confined to the route, minus the ones that would set a
 * cookie applink owns and minus nameless ones (a browser sends a nameless cookie's value
 * alone, so `=applink.sid=x` would reach applink as applink.sid). See scopeSetCookie.
 */
export function filterSetCookies(values: readonly string[], owned: OwnedCookies, routePath: string): string[] {
  const kept: string[] = [];
  for (const v of values) {
    const name = setCookieName(v);
    if (name === '' || owned.names.has(name)) continue;
    kept.push(scopeSetCookie(v, routePath));
  }
  return kept;
}

/**
 * Confines an upstream cookie to the route's public path (base path + prefix), so the
 * browser never sends it to applink's own pages (and many large ones cannot make every
 * applink request too big to serve): a Path outside the route is replaced by the route's
 * path, a missing one added (the default path of `/tracker` would be `/`), and Domain is
 * removed (host-only). A `__Host-` cookie, which must have `Path=/`, is then refused by the
 * browser: it would have covered all of applink.
 */
export function scopeSetCookie(value: string, routePath: string): string {
  let out = '';
  let scoped = false;
  let start = 0;
  for (let first = true; start <= value.length; first = false) {
    let end = value.indexOf(';', start);
    if (end === -1) end = value.length;
    const part = value.slice(start, end);
    start = end + 1;
    if (first) {
      out = part;
      continue;
    }
    const t = part.trim();
    const eq = t.indexOf('=');
    const attr = (eq === -1 ? t : t.slice(0, eq)).trimEnd().toLowerCase();
    if (attr === 'domain') continue;
    if (attr === 'path') {
      const path = eq === -1 ? '' : t.slice(eq + 1).trim();
      if (path !== routePath && !path.startsWith(`${routePath}/`)) continue;
      scoped = true;
    }
    if (t !== '') out += `; ${t}`;
  }
  return scoped ? out : `${out}; Path=${routePath}`;
}

/** `routePath`: the route's public path (base path + prefix), where its cookies belong. */
export function clientResponseHeaders(
  upstream: IncomingHttpHeaders,
  owned: OwnedCookies,
  routePath: string,
): OutgoingHttpHeaders {
  const named = connectionNames(upstream.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || ORIGIN_WIDE.has(name)) continue;
    if (named !== null && namedIn(named, name)) continue;
    if (name === 'set-cookie') {
      const kept = filterSetCookies(value as string[], owned, routePath);
      if (kept.length > 0) out['set-cookie'] = kept;
      continue;
    }
    out[name] = value;
  }
  // Every CSP header given is enforced: the upstream's own policy stays, ours is added.
  const csp = upstream['content-security-policy'];
  (out as Record<string, string | string[]>)['content-security-policy'] =
    csp === undefined ? GATEWAY_CSP : [String(csp), GATEWAY_CSP];
  out['x-content-type-options'] = 'nosniff';
  if (out['cross-origin-resource-policy'] === undefined) out['cross-origin-resource-policy'] = 'same-origin';
  out.via = upstream.via ? `${upstream.via}, 1.1 applink` : '1.1 applink';
  return out;
}
