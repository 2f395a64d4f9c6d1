/**
 * Token credentials, RFC 5849 §2.3: the verifier is checked and the exchange is atomic.
 * With the OAuth Session extension (oauth.googlecode.com/svn/spec/ext/session/1.0): the
 * answer carries oauth_expires_in, oauth_session_handle and oauth_authorization_expires_in,
 * and the same endpoint, signed with the current access token plus oauth_session_handle,
 * renews the token (new token and secret, same grant, the old token dead at once).
 */
import { createHash } from 'node:crypto';
import { OAuthProblem } from '../problems';
import { constantTimeEqual } from '../signature';
import { capAt, hashToken, newSecretValue, newTokenValue } from '../tokens';
import { verifySignedRequest } from './verify-request';
import { collectParams, type CollectedParams, type RequestParts } from '../params';
import type { FlowDeps, RenewalOutcome, StepRefusal } from '../ports';

export interface AccessTokenResult {
  token: string;
  secret: string;
  /** the grant's id (unchanged by renewals) */
  id: number;
  /** OAuth Session extension */
  sessionHandle: string;
  /** ms since the epoch; null = never */
  expiresAt: number | null;
  authorizationExpiresAt: number | null;
  renewed: boolean;
}

export interface AccessTokenDeps extends FlowDeps {
  /** seconds an access token lives; 0 = no expiry */
  accessTokenTtl: number;
  /** seconds the user's authorization (the grant, across renewals) lives; 0 = no expiry */
  authorizationTtl: number;
}

export const hashVerifier = (verifier: string): string => createHash('sha256').update(verifier).digest('hex');

/** The access-token endpoint: an exchange, or with oauth_session_handle a renewal. */
export function accessTokenEndpoint(
  parts: RequestParts,
  ip: string,
  deps: AccessTokenDeps,
): Promise<AccessTokenResult> {
  const params = collectParams(parts);
  return params.oauth.oauth_session_handle !== undefined
    ? renewAccessToken(parts, ip, deps, params)
    : exchangeRequestToken(parts, ip, deps, params);
}

export async function exchangeRequestToken(
  parts: RequestParts,
  ip: string,
  deps: AccessTokenDeps,
  collected?: CollectedParams,
): Promise<AccessTokenResult> {
  const { consumer, token, params } = await verifySignedRequest(parts, 'request', ip, deps, { params: collected });
  // Not decided yet (Problem Reporting: permission_unknown); not a wrong verifier either,
  // so it does not count toward the limit: the consumer may simply be early.
  if (token.userId === null) {
    throw new OAuthProblem('permission_unknown', { advice: 'The user has not yet allowed or denied access.' });
  }
  const verifier = params.oauth.oauth_verifier;
  if (verifier === undefined) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_verifier'] });

  const matches = token.verifierHash !== null && constantTimeEqual(token.verifierHash, hashVerifier(verifier));
  if (!matches) {
    // The count and its audit entry in one transaction: a crash may lose both, never one.
    await deps.store.recordVerifierFailure(token.id, {
      event: 'verifier.rejected',
      consumerId: consumer.id,
      tokenId: token.id,
      ip,
    });
    throw new OAuthProblem('verifier_invalid');
  }

  const value = newTokenValue();
  const secret = newSecretValue();
  const handle = newTokenValue();
  const now = deps.clock.now();
  const authorizationExpiresAt = deps.authorizationTtl > 0 ? now + deps.authorizationTtl * 1000 : null;
  const expiresAt = capAt(deps.accessTokenTtl > 0 ? now + deps.accessTokenTtl * 1000 : null, authorizationExpiresAt);
  const outcome = await deps.store.exchangeRequestToken(
    {
      requestTokenId: token.id,
      consumerId: consumer.id,
      userId: token.userId,
      accessTokenHash: hashToken(value),
      accessSecret: secret,
      createdAt: now,
      expiresAt,
      sessionHandleHash: hashToken(handle),
      authorizationExpiresAt,
    },
    { event: 'access_token.issued', actorUserId: token.userId, consumerId: consumer.id, ip },
  );
  if ('refused' in outcome) throw refusal(outcome.refused, 'This request token has been used.');
  return {
    token: value,
    secret,
    id: outcome.id,
    sessionHandle: handle,
    expiresAt,
    authorizationExpiresAt,
    renewed: false,
  };
}

export async function renewAccessToken(
  parts: RequestParts,
  ip: string,
  deps: AccessTokenDeps,
  collected?: CollectedParams,
): Promise<AccessTokenResult> {
  // An expired token may be renewed (that is what the session handle is for); a revoked
  // one, or one whose user or consumer is disabled, may not (verified here and again,
  // atomically, by the store's write).
  const { consumer, token, params } = await verifySignedRequest(parts, 'access', ip, deps, {
    renewal: true,
    params: collected,
  });
  const handle = params.oauth.oauth_session_handle;
  if (handle === undefined) {
    throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_session_handle'] });
  }
  // (verifySignedRequest required it for an access-token request; the type does not say so)
  const presented = params.oauth.oauth_token;
  if (presented === undefined) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['oauth_token'] });
  if (params.oauth.oauth_verifier !== undefined) {
    throw new OAuthProblem('parameter_rejected', {
      advice: 'A renewal carries oauth_session_handle, not oauth_verifier.',
      parametersRejected: ['oauth_verifier'],
    });
  }
  const value = newTokenValue();
  const secret = newSecretValue();
  const now = deps.clock.now();
  const outcome: RenewalOutcome = await deps.store.renewAccessToken(
    {
      accessTokenId: token.id,
      tokenHash: hashToken(presented),
      sessionHandleHash: hashToken(handle),
      newTokenHash: hashToken(value),
      newSecret: secret,
      at: now,
      ip,
      expiresAt: deps.accessTokenTtl > 0 ? now + deps.accessTokenTtl * 1000 : null,
    },
    { event: 'access_token.renewed', actorUserId: token.user.id, consumerId: consumer.id, tokenId: token.id, ip },
  );
  if (!outcome.renewed) {
    switch (outcome.refused) {
      case 'handle':
        throw new OAuthProblem('token_rejected', { advice: 'The session handle does not belong to this token.' });
      case 'revoked':
        throw new OAuthProblem('token_revoked');
      case 'authorization_expired':
        throw new OAuthProblem('token_expired', {
          advice: 'The authorization has expired; the user must allow access again.',
        });
      default:
        throw refusal(outcome.refused, 'This token has already been renewed.');
    }
  }
  return {
    token: value,
    secret,
    id: token.id,
    sessionHandle: handle,
    expiresAt: outcome.expiresAt,
    authorizationExpiresAt: outcome.authorizationExpiresAt,
    renewed: true,
  };
}

/** The answer's parameters: the token credentials and the OAuth Session extension's. */
export function accessTokenAnswer(r: AccessTokenResult, now: number): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['oauth_token', r.token],
    ['oauth_token_secret', r.secret],
  ];
  // Seconds left; absent when the token (or the authorization) never expires.
  if (r.expiresAt !== null) out.push(['oauth_expires_in', String(secondsLeft(r.expiresAt, now))]);
  out.push(['oauth_session_handle', r.sessionHandle]);
  if (r.authorizationExpiresAt !== null) {
    out.push(['oauth_authorization_expires_in', String(secondsLeft(r.authorizationExpiresAt, now))]);
  }
  return out;
}

const secondsLeft = (at: number, now: number): number => Math.max(0, Math.floor((at - now) / 1000));

/** The problem for a step whose atomic write found the world changed since verification. */
export function refusal(r: StepRefusal, racedAdvice: string): OAuthProblem {
  switch (r) {
    case 'user_disabled':
      return new OAuthProblem('permission_denied', { advice: 'The user has been disabled.' });
    case 'consumer_disabled':
      return new OAuthProblem('consumer_key_rejected');
    case 'raced':
      return new OAuthProblem('token_rejected', { advice: racedAdvice });
  }
}
