/** Token credentials, RFC 5849 §2.3: the verifier is checked and the exchange is atomic. */
import { createHash } from 'node:crypto';
import { OAuthProblem } from '../problems';
import { constantTimeEqual } from '../signature';
import { hashToken, newSecretValue, newTokenValue } from '../tokens';
import { MAX_VERIFIER_FAILURES, verifySignedRequest, type FlowDeps } from './verify-request';
import type { RequestParts } from '../params';

export interface AccessTokenResult {
  token: string;
  secret: string;
  id: number;
}

export const hashVerifier = (verifier: string): string => createHash('sha256').update(verifier).digest('hex');

export async function exchangeRequestToken(
  parts: RequestParts,
  ip: string,
  deps: FlowDeps & { accessTokenTtl: number },
): Promise<AccessTokenResult> {
  const { consumer, token, params } = await verifySignedRequest(parts, 'request', ip, deps);
  const verifier = params.oauth.oauth_verifier;
  if (verifier === undefined) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_verifier'] });

  const matches =
    token.verifierHash !== null &&
    token.userId !== null &&
    constantTimeEqual(token.verifierHash, hashVerifier(verifier));
  if (!matches) {
    if (token.verifierHash !== null) {
      const failures = await deps.store.recordVerifierFailure(token.id);
      await deps.store.audit({
        event: 'verifier.rejected',
        consumerId: consumer.id,
        tokenId: token.id,
        ip,
        detail: { failures, killed: failures >= MAX_VERIFIER_FAILURES },
      });
    }
    throw new OAuthProblem('verifier_invalid');
  }

  const value = newTokenValue();
  const secret = newSecretValue();
  const now = deps.clock.now();
  const id = await deps.store.exchangeRequestToken(
    {
      requestTokenId: token.id,
      consumerId: consumer.id,
      userId: token.userId!,
      accessTokenHash: hashToken(value),
      accessSecret: secret,
      createdAt: now,
      expiresAt: deps.accessTokenTtl > 0 ? now + deps.accessTokenTtl * 1000 : null,
    },
    { event: 'access_token.issued', actorUserId: token.userId, consumerId: consumer.id, ip },
  );
  // Lost a race against a concurrent exchange of the same verifier.
  if (id === null) throw new OAuthProblem('token_rejected', { advice: 'This request token has been used.' });
  return { token: value, secret, id };
}
