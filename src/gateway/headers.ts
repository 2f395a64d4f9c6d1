/**
 * Which headers cross the gateway. Towards the upstream: none of the hop-by-hop headers
 * (RFC 9110 §7.6.1), and nothing a client could use to pose as someone else (identity,
 * forwarding and OAuth headers); applink then adds its own. Back to the client: the
 * upstream's headers minus the hop-by-hop ones.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

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

// Set by applink, never passed on from the client. Host is the upstream's; Expect was
// answered by this server already; Authorization carried the OAuth signature.
const REPLACED: ReadonlySet<string> = new Set([
  'host',
  'expect',
  'authorization',
  'applink-jwt-assertion',
  'forwarded',
  'x-real-ip',
  'via',
]);

/** Header names compared with `_` read as `-`: CGI-style servers map both to one variable. */
const normalise = (name: string) => (name.indexOf('_') === -1 ? name : name.replace(/_/g, '-'));

function connectionTokens(headers: IncomingHttpHeaders): Set<string> | null {
  const c = headers.connection;
  if (!c) return null;
  return new Set(
    c
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
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

export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  upstreamHost: string,
  identity: Identity,
  fwd: Forwarding,
  bodyLength: number | null,
): OutgoingHttpHeaders {
  const named = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [rawName, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const name = normalise(rawName);
    if (
      HOP_BY_HOP.has(name) ||
      REPLACED.has(name) ||
      name.startsWith('x-applink-') ||
      name.startsWith('x-forwarded-') ||
      named?.has(rawName) ||
      named?.has(name)
    ) {
      continue;
    }
    if (bodyLength !== null && name === 'content-length') continue;
    out[rawName] = value;
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

export function clientResponseHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  out.via = upstream.via ? `${upstream.via}, 1.1 applink` : '1.1 applink';
  return out;
}
