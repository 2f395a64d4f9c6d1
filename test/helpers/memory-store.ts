// An in-memory ProtocolStore for exercising the protocol core without a database: the
// credential lookup and the nonce claim, which is all verifySignedRequest needs. It
// counts its calls so tests can see which path a request took.
import { createPublicKey } from 'node:crypto';
import type {
  AccessTokenRecord,
  ConsumerRecord,
  Credentials,
  NonceClaim,
  ProtocolStore,
  RequestTokenRecord,
  TokenKind,
} from '../../src/oauth1/ports';
import { hashToken } from '../../src/oauth1/tokens';

export class MemoryStore implements ProtocolStore {
  readonly consumers = new Map<string, ConsumerRecord>();
  readonly accessTokens = new Map<string, AccessTokenRecord>();
  readonly requestTokens = new Map<string, RequestTokenRecord>();
  readonly nonces = new Set<string>();
  readonly calls = { findCredentials: 0, claimNonce: 0 };

  addConsumer(key: string, opts: { secret?: string | null; publicKeyPem?: string }): ConsumerRecord {
    const c: ConsumerRecord = {
      id: this.consumers.size + 1,
      key,
      name: key,
      description: '',
      callbackUrl: null,
      secret: opts.secret ?? null,
      publicKey: opts.publicKeyPem ? createPublicKey(opts.publicKeyPem) : null,
      disabled: false,
    };
    this.consumers.set(key, c);
    return c;
  }

  addAccessToken(consumer: ConsumerRecord, token: string, secret: string): AccessTokenRecord {
    const t: AccessTokenRecord = {
      kind: 'access',
      id: this.accessTokens.size + 1,
      consumerId: consumer.id,
      secret,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      user: {
        id: 1,
        username: 'alice',
        email: 'alice@example.com',
        displayName: 'Alice',
        disabled: false,
        isAdmin: false,
      },
    };
    this.accessTokens.set(hashToken(token), t);
    return t;
  }

  async findCredentials<K extends TokenKind | null>(
    consumerKey: string,
    tokenHash: string | null,
    kind: K,
  ): Promise<Credentials<K>> {
    this.calls.findCredentials++;
    const consumer = this.consumers.get(consumerKey) ?? null;
    let token: AccessTokenRecord | RequestTokenRecord | null = null;
    if (consumer && tokenHash !== null) {
      const t = kind === 'access' ? this.accessTokens.get(tokenHash) : this.requestTokens.get(tokenHash);
      token = t && t.consumerId === consumer.id ? t : null;
    }
    return { consumer, token } as Credentials<K>;
  }

  async claimNonce(c: NonceClaim): Promise<boolean> {
    this.calls.claimNonce++;
    const key = JSON.stringify([c.consumerId, c.tokenRef, c.timestamp, c.nonce]);
    if (this.nonces.has(key)) return false;
    this.nonces.add(key);
    return true;
  }

  private unused(): never {
    throw new Error('not used by these tests');
  }
  createRequestToken = async (): Promise<number> => this.unused();
  findRequestToken = async (): Promise<null> => this.unused();
  approveRequestToken = async (): Promise<boolean> => this.unused();
  denyRequestToken = async (): Promise<boolean> => this.unused();
  recordVerifierFailure = async (): Promise<number> => this.unused();
  exchangeRequestToken = async (): Promise<number | null> => this.unused();
  audit = async (): Promise<void> => undefined;
}
