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
  if (
    !reg ||
    reg.protocol !== url.protocol ||
    reg.hostname !== url.hostname ||
    reg.port !== url.port ||
    !pathUnder(url.pathname, reg.pathname)
  ) {
    throw rejected('oauth_callback is outside the callback registered for this consumer.');
  }
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

function pathUnder(path: string, prefix: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  const p = prefix.endsWith('/') ? prefix : prefix + '/';
  return path.startsWith(p);
}
