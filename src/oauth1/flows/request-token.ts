/** Temporary credentials, RFC 5849 §2.1. */
import { OAuthProblem } from '../problems';
import { hashToken, newSecretValue, newTokenValue } from '../tokens';
import { verifySignedRequest } from './verify-request';
import type { FlowDeps } from '../ports';
import type { RequestParts } from '../params';
import { hasControlCharacter } from '../encoding';

export interface RequestTokenResult {
  token: string;
  secret: string;
  consumerId: number;
}

export async function issueRequestToken(
  parts: RequestParts,
  ip: string,
  deps: FlowDeps & { requestTokenTtl: number },
): Promise<RequestTokenResult> {
  const { consumer, params } = await verifySignedRequest(parts, null, ip, deps);
  const callback = params.oauth.oauth_callback;
  if (callback === undefined) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_callback'] });
  checkCallback(callback, consumer.callbackUrl);

  const token = newTokenValue();
  const secret = newSecretValue();
  const now = deps.clock.now();
  await deps.store.createRequestToken(
    {
      tokenHash: hashToken(token),
      consumerId: consumer.id,
      secret,
      callback,
      createdAt: now,
      expiresAt: now + deps.requestTokenTtl * 1000,
    },
    { event: 'request_token.issued', consumerId: consumer.id, ip },
  );
  return { token, secret, consumerId: consumer.id };
}

/**
 * `oob`, or an absolute http(s) URL; when the consumer registered a callback, the one
 * sent must have the same scheme, host and port and lie under its path (no open redirect).
 * Paths are compared as a browser and the consumer's server will resolve them: both are
 * parsed by the WHATWG URL parser (dot segments, `%2e%2e`, backslashes resolved as a
 * browser does) and normalised (see normalisedPath); what servers may read differently
 * (encoded slashes, `..;` segments, encoded controls, double encoding) is refused.
 */
export function checkCallback(callback: string, registered: string | null): void {
  if (callback === 'oob') return;
  const rejected = (advice: string): OAuthProblem =>
    new OAuthProblem('parameter_rejected', { advice, parametersRejected: ['oauth_callback'] });
  // Stored, and echoed in a Location header: no control characters (NUL included).
  if (hasControlCharacter(callback)) throw rejected('oauth_callback must not contain control characters.');
  const url = parseHttpUrl(callback);
  if (!url) throw rejected('oauth_callback must be "oob" or an absolute http(s) URL.');
  if (url.username || url.password) throw rejected('oauth_callback must not carry credentials.');
  if (registered === null) return;
  const reg = parseHttpUrl(registered);
  const regPath = reg && normalisedPath(reg.pathname);
  if (!reg || regPath === null)
    throw rejected('The callback registered for this consumer is not usable; ask the administrator.');
  if (reg.protocol !== url.protocol || reg.hostname !== url.hostname || reg.port !== url.port) {
    throw rejected('oauth_callback is outside the callback registered for this consumer.');
  }
  const path = normalisedPath(url.pathname);
  if (path === null) {
    throw rejected('oauth_callback has an encoded slash, backslash, dot segment or control character in its path.');
  }
  if (!pathUnder(path, regPath)) throw rejected('oauth_callback is outside the callback registered for this consumer.');
}

function parseHttpUrl(s: string): URL | null {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}

// %2F / %5C (a slash a server may decode into a separator), an encoded control character,
// or a double-encoded dot, slash or backslash (%252e …): servers differ on all of them.
const AMBIGUOUS = /%(?:2f|5c|[01][0-9a-f]|7f|25(?:2e|2f|5c))/i;
const PERCENT = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED_BYTE = /^[A-Za-z0-9\-._~]$/;

/**
 * A WHATWG-parsed path in one spelling: percent-encoded unreserved characters decoded
 * (RFC 3986 §6.2.2.2), other escapes upper-cased (§6.2.2.1). null when the path is
 * ambiguous: AMBIGUOUS escapes, or a segment that is `.` or `..` once decoded or once its
 * `;parameters` are dropped (Tomcat reads `/..;/` as `/../`).
 */
export function normalisedPath(pathname: string): string | null {
  if (AMBIGUOUS.test(pathname)) return null;
  const path = pathname.replace(PERCENT, (_, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED_BYTE.test(c) ? c : `%${hex.toUpperCase()}`;
  });
  for (const segment of path.split('/')) {
    const bare = segment.split(';', 1)[0] ?? '';
    if (bare === '.' || bare === '..') return null;
  }
  return path;
}

function pathUnder(path: string, prefix: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  const p = prefix.endsWith('/') ? prefix : prefix + '/';
  return path.startsWith(p);
}
