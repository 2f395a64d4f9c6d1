/**
 * The small interfaces the protocol flows need from the outside world. src/db implements
 * them over SQLite or PostgreSQL; tests may implement them in memory.
 */
import type { KeyObject } from 'node:crypto';

export interface ConsumerRecord {
  id: number;
  key: string;
  name: string;
  description: string;
  /** registered callback; a request token's callback must fall under it */
  callbackUrl: string | null;
  /** decrypted shared secret, when the consumer has one */
  secret: string | null;
  /** RSA public key, when the consumer has one */
  publicKey: KeyObject | null;
  disabled: boolean;
}

export interface UserRecord {
  id: number;
  username: string;
  email: string;
  displayName: string;
  disabled: boolean;
  isAdmin: boolean;
}

export interface RequestTokenRecord {
  kind: 'request';
  id: number;
  consumerId: number;
  secret: string;
  callback: string;
  userId: number | null;
  verifierHash: string | null;
  verifierFailures: number;
  authorizedAt: number | null;
  deniedAt: number | null;
  usedAt: number | null;
  expiresAt: number;
}

export interface AccessTokenRecord {
  kind: 'access';
  id: number;
  consumerId: number;
  secret: string;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  user: UserRecord;
}

export type TokenKind = 'request' | 'access';

export interface Credentials<K extends TokenKind | null> {
  consumer: ConsumerRecord | null;
  token: K extends 'request' ? RequestTokenRecord | null : K extends 'access' ? AccessTokenRecord | null : null;
}

export interface NonceClaim {
  consumerId: number;
  /** '' for consumer-only requests, else `r<id>` / `a<id>` */
  tokenRef: string;
  timestamp: number;
  nonce: string;
}

/** A throttled `last_used` update that rides along with the nonce claim. */
export interface TokenTouch {
  accessTokenId: number;
  at: number;
  ip: string;
}

export interface NewRequestToken {
  tokenHash: string;
  consumerId: number;
  secret: string;
  callback: string;
  createdAt: number;
  expiresAt: number;
}

export interface Exchange {
  requestTokenId: number;
  consumerId: number;
  userId: number;
  accessTokenHash: string;
  accessSecret: string;
  createdAt: number;
  expiresAt: number | null;
  /** SHA-256 of the OAuth Session extension's oauth_session_handle */
  sessionHandleHash: string;
  /** when the user's authorization (the grant, across renewals) ends; null = never */
  authorizationExpiresAt: number | null;
}

/** Why a step's atomic write found the world changed since the request was verified. */
export type StepRefusal = 'raced' | 'user_disabled' | 'consumer_disabled';

export type ExchangeOutcome = { id: number } | { refused: StepRefusal };

/** OAuth Session extension: a new token and secret for the same grant. */
export interface Renewal {
  accessTokenId: number;
  /** hash of the token the renewal was signed with: it must still be the grant's token */
  tokenHash: string;
  sessionHandleHash: string;
  newTokenHash: string;
  newSecret: string;
  at: number;
  ip: string;
  /** the new token's expiry; the store caps it at the authorization's end */
  expiresAt: number | null;
}

export type RenewalOutcome =
  | { renewed: true; expiresAt: number | null; authorizationExpiresAt: number | null }
  | { renewed: false; refused: StepRefusal | 'handle' | 'revoked' | 'authorization_expired' };

export interface AuditEvent {
  event: string;
  actorUserId?: number | null;
  consumerId?: number | null;
  tokenId?: number | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * What the protocol flows need from storage. Every single-use step is atomic, and a step
 * that takes an AuditEvent writes it in the same transaction as the change it records
 * (with the id of the token it created or changed), and only when the change happened:
 * a crash can lose both, never one of them.
 */
export interface ProtocolStore {
  /** One round trip: the consumer by key and, when asked, the token of that kind for it. */
  findCredentials<K extends TokenKind | null>(
    consumerKey: string,
    tokenHash: string | null,
    kind: K,
  ): Promise<Credentials<K>>;
  /** Inserts the nonce against a unique key; false when it was already there. */
  claimNonce(claim: NonceClaim, touch: TokenTouch | null): Promise<boolean>;
  createRequestToken(t: NewRequestToken, audit: AuditEvent): Promise<number>;
  findRequestToken(tokenHash: string): Promise<{ token: RequestTokenRecord; consumer: ConsumerRecord } | null>;
  /** Sets user and verifier if the token is still undecided and unexpired; false otherwise. */
  approveRequestToken(
    id: number,
    userId: number,
    verifierHash: string,
    at: number,
    audit: AuditEvent,
  ): Promise<boolean>;
  denyRequestToken(id: number, userId: number, at: number, audit: AuditEvent): Promise<boolean>;
  /**
   * Counts a wrong verifier and writes the audit event (its detail given `failures`, the
   * new count, and `killed`) in one transaction; returns the new failure count.
   */
  recordVerifierFailure(id: number, audit: AuditEvent): Promise<number>;
  /**
   * Kills the request token and creates the access token in one transaction, if the token
   * is still unused and its user and consumer are still enabled at that moment; returns
   * the new access token id, or why not. An approval whose user has been disabled is
   * voided (marked denied) in the same transaction: re-enabling the user does not bring
   * it back.
   */
  exchangeRequestToken(e: Exchange, audit: AuditEvent): Promise<ExchangeOutcome>;
  /**
   * Replaces the grant's token and secret in one conditional write (the old token is dead
   * from that moment; of two concurrent renewals exactly one wins), if the handle matches,
   * the grant is unrevoked, its authorization unexpired, and its user and consumer enabled.
   */
  renewAccessToken(r: Renewal, audit: AuditEvent): Promise<RenewalOutcome>;
  audit(e: AuditEvent): Promise<void>;
}

export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
}

/** Wrong verifiers a request token survives; the last one kills it (SPEC: three). */
export const MAX_VERIFIER_FAILURES = 3;

export interface ProtocolOptions {
  /** accepted clock skew either way, seconds */
  timestampWindow: number;
  /** how often a token's last_used is written, ms */
  lastUsedThrottle: number;
}

/** What every flow is given: storage, time and the protocol's settings. */
export interface FlowDeps {
  store: ProtocolStore;
  clock: Clock;
  options: ProtocolOptions;
}
