/** Resource-owner authorization, RFC 5849 §2.2: what the consent page shows and decides. */
import { OAuthProblem } from '../problems';
import { hashToken, newVerifierValue } from '../tokens';
import { hashVerifier } from './access-token';
import type { Clock, ConsumerRecord, ProtocolStore, RequestTokenRecord, UserRecord } from '../ports';

export interface PendingAuthorization {
  token: RequestTokenRecord;
  consumer: ConsumerRecord;
}

/**
 * The request token a consent page is about, if it can still be decided on.
 * Unknown, used or decided tokens are token_rejected; expired ones token_expired;
 * a disabled consumer consumer_key_rejected.
 */
export async function findPendingAuthorization(
  tokenValue: string | undefined,
  deps: { store: ProtocolStore; clock: Clock },
): Promise<PendingAuthorization> {
  if (!tokenValue) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_token'] });
  const found = await deps.store.findRequestToken(hashToken(tokenValue));
  if (!found) throw new OAuthProblem('token_rejected', { advice: 'This authorization link is not valid.' });
  const { token, consumer } = found;
  if (consumer.disabled) throw new OAuthProblem('consumer_key_rejected');
  if (token.usedAt !== null || token.userId !== null || token.deniedAt !== null) {
    throw new OAuthProblem('token_rejected', { advice: 'This authorization request has already been answered.' });
  }
  if (token.expiresAt <= deps.clock.now()) throw new OAuthProblem('token_expired');
  return found;
}

export type Decision =
  | { kind: 'allow'; callback: string; token: string; verifier: string }
  | { kind: 'deny'; callback: string; token: string };

export async function decideAuthorization(
  tokenValue: string | undefined,
  user: UserRecord,
  allow: boolean,
  ip: string,
  deps: { store: ProtocolStore; clock: Clock },
): Promise<Decision & { consumer: ConsumerRecord }> {
  if (user.disabled) throw new OAuthProblem('permission_denied', { advice: 'Your account has been disabled.' });
  // (findPendingAuthorization says the same; this tells the type checker tokenValue is set)
  if (!tokenValue) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_token'] });
  const { token, consumer } = await findPendingAuthorization(tokenValue, deps);
  const now = deps.clock.now();
  if (!allow) {
    const denied = await deps.store.denyRequestToken(token.id, user.id, now, {
      event: 'authorization.denied',
      actorUserId: user.id,
      consumerId: consumer.id,
      tokenId: token.id,
      ip,
    });
    if (!denied) return refusedDecision(tokenValue, deps);
    return { kind: 'deny', callback: token.callback, token: tokenValue, consumer };
  }
  const verifier = newVerifierValue();
  const approved = await deps.store.approveRequestToken(token.id, user.id, hashVerifier(verifier), now, {
    event: 'authorization.approved',
    actorUserId: user.id,
    consumerId: consumer.id,
    tokenId: token.id,
    ip,
  });
  if (!approved) return refusedDecision(tokenValue, deps);
  return { kind: 'allow', callback: token.callback, token: tokenValue, verifier, consumer };
}

/**
 * The decision's conditional write found nothing: the token was decided meanwhile, or
 * the consumer or the deciding user was disabled after the page was shown. Says which.
 */
async function refusedDecision(
  tokenValue: string | undefined,
  deps: { store: ProtocolStore; clock: Clock },
): Promise<never> {
  await findPendingAuthorization(tokenValue, deps); // throws for a decided token or a disabled consumer
  throw new OAuthProblem('permission_denied', { advice: 'Your account has been disabled.' });
}

/** The callback URL with the given parameters appended to its query. */
export function callbackWith(callback: string, params: Record<string, string>): string {
  const url = new URL(callback);
  for (const [k, v] of Object.entries(params)) url.searchParams.append(k, v);
  return url.toString();
}
