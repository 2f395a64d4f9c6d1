// An in-memory ProtocolStore for exercising the protocol core and its flows without a
// database. It keeps the same promises as the SQL store (each step's write and its audit
// entry together, conditional writes as claims, current user and consumer state checked
// at the write) and counts its calls so tests can see which path a request took.
import { createPublicKey } from 'node:crypto';
import {
  MAX_VERIFIER_FAILURES,
  type AccessTokenRecord,
  type AuditEvent,
  type ConsumerRecord,
  type Credentials,
  type Exchange,
  type ExchangeOutcome,
  type NewRequestToken,
  type NonceClaim,
  type ProtocolStore,
  type Renewal,
  type RenewalOutcome,
  type RequestTokenRecord,
  type StepRefusal,
  type TokenKind,
  type TokenTouch,
  type UserRecord,
} from '../../src/oauth1/ports';
import { hashToken, capAt } from '../../src/oauth1/tokens';
import { must } from './must';

/** The store's answer as a promise, with a throw becoming a rejection as it would in an async method. */
const settled = <T>(answer: () => T): Promise<T> => new Promise((resolve) => resolve(answer()));

interface RequestRow {
  hash: string;
  record: RequestTokenRecord;
}

interface GrantRow {
  hash: string;
  consumerId: number;
  userId: number;
  secret: string;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  sessionHandleHash: string | null;
  authorizationExpiresAt: number | null;
}

export class MemoryStore implements ProtocolStore {
  readonly consumers = new Map<string, ConsumerRecord>();
  readonly users = new Map<number, UserRecord>();
  readonly requestTokens = new Map<number, RequestRow>();
  readonly grants = new Map<number, GrantRow>();
  readonly nonces = new Set<string>();
  readonly audits: AuditEvent[] = [];
  readonly calls = { findCredentials: 0, claimNonce: 0 };
  private nextId = 1;

  addConsumer(
    key: string,
    opts: { secret?: string | null; publicKeyPem?: string; callbackUrl?: string },
  ): ConsumerRecord {
    const c: ConsumerRecord = {
      id: this.consumers.size + 1,
      key,
      name: key,
      description: '',
      callbackUrl: opts.callbackUrl ?? null,
      secret: opts.secret ?? null,
      publicKey: opts.publicKeyPem ? createPublicKey(opts.publicKeyPem) : null,
      disabled: false,
    };
    this.consumers.set(key, c);
    return c;
  }

  addUser(username: string): UserRecord {
    const u: UserRecord = {
      id: this.users.size + 1,
      username,
      email: `${username}@example.com`,
      displayName: username,
      disabled: false,
      isAdmin: false,
    };
    this.users.set(u.id, u);
    return u;
  }

  addAccessToken(consumer: ConsumerRecord, token: string, secret: string, user?: UserRecord): AccessTokenRecord {
    const owner = user ?? this.users.get(1) ?? this.addUser('alice');
    const id = this.nextId++;
    this.grants.set(id, {
      hash: hashToken(token),
      consumerId: consumer.id,
      userId: owner.id,
      secret,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      sessionHandleHash: null,
      authorizationExpiresAt: null,
    });
    return must(this.accessRecord(id), 'the access token just added');
  }

  private consumerById(id: number): ConsumerRecord | undefined {
    for (const c of this.consumers.values()) if (c.id === id) return c;
    return undefined;
  }

  private accessRecord(id: number): AccessTokenRecord | null {
    const g = this.grants.get(id);
    if (!g) return null;
    return {
      kind: 'access',
      id,
      consumerId: g.consumerId,
      secret: g.secret,
      expiresAt: g.expiresAt,
      revokedAt: g.revokedAt,
      lastUsedAt: g.lastUsedAt,
      user: { ...must(this.users.get(g.userId), `user ${g.userId} of grant ${id}`) },
    };
  }

  private requestRecord(row: RequestRow): RequestTokenRecord {
    return { ...row.record };
  }

  findCredentials<K extends TokenKind | null>(
    consumerKey: string,
    tokenHash: string | null,
    kind: K,
  ): Promise<Credentials<K>> {
    return settled(() => {
      this.calls.findCredentials++;
      const found = this.consumers.get(consumerKey);
      const consumer = found ? { ...found } : null;
      let token: AccessTokenRecord | RequestTokenRecord | null = null;
      if (consumer && tokenHash !== null) {
        if (kind === 'access') {
          for (const [id, g] of this.grants)
            if (g.hash === tokenHash && g.consumerId === consumer.id) token = this.accessRecord(id);
        } else {
          for (const row of this.requestTokens.values())
            if (row.hash === tokenHash && row.record.consumerId === consumer.id) token = this.requestRecord(row);
        }
      }
      return { consumer, token } as Credentials<K>;
    });
  }

  claimNonce(c: NonceClaim, touch: TokenTouch | null): Promise<boolean> {
    return settled(() => {
      this.calls.claimNonce++;
      const key = JSON.stringify([c.consumerId, c.tokenRef, c.timestamp, c.nonce]);
      if (this.nonces.has(key)) return false;
      this.nonces.add(key);
      const g = touch && this.grants.get(touch.accessTokenId);
      if (g) g.lastUsedAt = touch.at;
      return true;
    });
  }

  createRequestToken(t: NewRequestToken, audit: AuditEvent): Promise<number> {
    return settled(() => {
      const id = this.nextId++;
      this.requestTokens.set(id, {
        hash: t.tokenHash,
        record: {
          kind: 'request',
          id,
          consumerId: t.consumerId,
          secret: t.secret,
          callback: t.callback,
          userId: null,
          verifierHash: null,
          verifierFailures: 0,
          authorizedAt: null,
          deniedAt: null,
          usedAt: null,
          expiresAt: t.expiresAt,
        },
      });
      this.audits.push({ ...audit, tokenId: id });
      return id;
    });
  }

  findRequestToken(tokenHash: string): Promise<{ token: RequestTokenRecord; consumer: ConsumerRecord } | null> {
    return settled(() => {
      for (const row of this.requestTokens.values()) {
        if (row.hash !== tokenHash) continue;
        const consumer = this.consumerById(row.record.consumerId);
        return consumer ? { token: this.requestRecord(row), consumer: { ...consumer } } : null;
      }
      return null;
    });
  }

  private enabled(consumerId: number, userId: number): boolean {
    return this.consumerById(consumerId)?.disabled === false && this.users.get(userId)?.disabled === false;
  }

  private decide(id: number, userId: number, at: number, patch: Partial<RequestRow['record']>, audit: AuditEvent) {
    const row = this.requestTokens.get(id);
    const r = row?.record;
    if (!r || r.userId !== null || r.deniedAt !== null || r.usedAt !== null || r.expiresAt <= at) return false;
    if (!this.enabled(r.consumerId, userId)) return false;
    Object.assign(r, patch);
    this.audits.push(audit);
    return true;
  }

  approveRequestToken(
    id: number,
    userId: number,
    verifierHash: string,
    at: number,
    audit: AuditEvent,
  ): Promise<boolean> {
    return settled(() => {
      return this.decide(id, userId, at, { userId, verifierHash, authorizedAt: at }, audit);
    });
  }

  denyRequestToken(id: number, userId: number, at: number, audit: AuditEvent): Promise<boolean> {
    return settled(() => {
      return this.decide(id, userId, at, { userId, deniedAt: at }, audit);
    });
  }

  recordVerifierFailure(id: number, audit: AuditEvent): Promise<number> {
    return settled(() => {
      const r = this.requestTokens.get(id)?.record;
      if (!r) return MAX_VERIFIER_FAILURES;
      r.verifierFailures++;
      this.audits.push({
        ...audit,
        detail: { ...audit.detail, failures: r.verifierFailures, killed: r.verifierFailures >= MAX_VERIFIER_FAILURES },
      });
      return r.verifierFailures;
    });
  }

  private why(consumerId: number, userId: number): StepRefusal {
    if (this.consumerById(consumerId)?.disabled !== false) return 'consumer_disabled';
    if (this.users.get(userId)?.disabled !== false) return 'user_disabled';
    return 'raced';
  }

  exchangeRequestToken(e: Exchange, audit: AuditEvent): Promise<ExchangeOutcome> {
    return settled(() => {
      const r = this.requestTokens.get(e.requestTokenId)?.record;
      const claimable =
        r &&
        r.consumerId === e.consumerId &&
        r.userId === e.userId &&
        r.usedAt === null &&
        r.deniedAt === null &&
        r.verifierHash !== null &&
        r.verifierFailures < MAX_VERIFIER_FAILURES &&
        this.enabled(e.consumerId, e.userId);
      if (!claimable) {
        const refused = this.why(e.consumerId, e.userId);
        if (refused === 'user_disabled' && r && r.usedAt === null) r.deniedAt = e.createdAt;
        return { refused };
      }
      r.usedAt = e.createdAt;
      const id = this.nextId++;
      this.grants.set(id, {
        hash: e.accessTokenHash,
        consumerId: e.consumerId,
        userId: e.userId,
        secret: e.accessSecret,
        expiresAt: e.expiresAt,
        revokedAt: null,
        lastUsedAt: null,
        sessionHandleHash: e.sessionHandleHash,
        authorizationExpiresAt: e.authorizationExpiresAt,
      });
      this.audits.push({ ...audit, tokenId: id });
      return { id };
    });
  }

  renewAccessToken(r: Renewal, audit: AuditEvent): Promise<RenewalOutcome> {
    return settled(() => {
      const g = this.grants.get(r.accessTokenId);
      if (!g) return { renewed: false, refused: 'raced' };
      if (g.revokedAt !== null) return { renewed: false, refused: 'revoked' };
      if (this.consumerById(g.consumerId)?.disabled !== false) return { renewed: false, refused: 'consumer_disabled' };
      if (this.users.get(g.userId)?.disabled !== false) return { renewed: false, refused: 'user_disabled' };
      if (g.hash !== r.tokenHash) return { renewed: false, refused: 'raced' };
      if (g.sessionHandleHash === null || g.sessionHandleHash !== r.sessionHandleHash)
        return { renewed: false, refused: 'handle' };
      if (g.authorizationExpiresAt !== null && g.authorizationExpiresAt <= r.at)
        return { renewed: false, refused: 'authorization_expired' };
      g.hash = r.newTokenHash;
      g.secret = r.newSecret;
      g.expiresAt = capAt(r.expiresAt, g.authorizationExpiresAt);
      g.lastUsedAt = r.at;
      this.audits.push(audit);
      return { renewed: true, expiresAt: g.expiresAt, authorizationExpiresAt: g.authorizationExpiresAt };
    });
  }

  audit(e: AuditEvent): Promise<void> {
    return settled(() => {
      this.audits.push(e);
    });
  }
}
