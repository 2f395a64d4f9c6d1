/**
 * ProtocolStore over SQL. The two statements of a signed API call (credential lookup and
 * nonce claim) are prepared once per dialect and run in one round trip each; everything
 * else goes through knex and may run inside a caller's transaction.
 */
import type { Knex } from 'knex';
import type { Database } from './index';
import type { SecretBox } from '../secrets';
import { toConsumer, toUser, type ConsumerRow } from './rows';
import type {
  AccessTokenRecord,
  AuditEvent,
  ConsumerRecord,
  Credentials,
  Exchange,
  NewRequestToken,
  NonceClaim,
  ProtocolStore,
  RequestTokenRecord,
  TokenKind,
  TokenTouch,
} from '../oauth1/ports';
import { MAX_VERIFIER_FAILURES } from '../oauth1/flows/verify-request';
import { createHotPath, type HotPath } from './hot-path';

export interface RequestTokenRow {
  id: number;
  consumer_id: number;
  secret_enc: string;
  callback: string;
  user_id: number | null;
  verifier_hash: string | null;
  verifier_failures: number;
  authorized_at: number | null;
  denied_at: number | null;
  used_at: number | null;
  expires_at: number;
}

export const toRequestToken = (r: RequestTokenRow, box: SecretBox): RequestTokenRecord => ({
  kind: 'request',
  id: r.id,
  consumerId: r.consumer_id,
  secret: box.open(r.secret_enc),
  callback: r.callback,
  userId: r.user_id,
  verifierHash: r.verifier_hash,
  verifierFailures: r.verifier_failures,
  authorizedAt: r.authorized_at,
  deniedAt: r.denied_at,
  usedAt: r.used_at,
  expiresAt: r.expires_at,
});

/** The joined row of the one-query credential lookup, columns prefixed by table. */
export interface CredentialRow {
  c_id: number;
  c_key: string;
  c_name: string;
  c_description: string;
  c_callback: string | null;
  c_secret: string | null;
  c_public_key: string | null;
  c_disabled: number | null;
  t_id: number | null;
  [column: string]: unknown;
}

export class SqlProtocolStore implements ProtocolStore {
  private readonly hot: HotPath;

  constructor(
    private readonly db: Database,
    private readonly box: SecretBox,
    /** told of every audit event written through this store (metrics) */
    private readonly onAudit: (e: AuditEvent) => void = () => undefined,
  ) {
    this.hot = createHotPath(db);
  }

  async findCredentials<K extends TokenKind | null>(
    consumerKey: string,
    tokenHash: string | null,
    kind: K,
  ): Promise<Credentials<K>> {
    const row = await this.hot.lookup(consumerKey, tokenHash, kind);
    if (!row) return { consumer: null, token: null } as Credentials<K>;
    const consumer = this.consumerFrom(row);
    let token: RequestTokenRecord | AccessTokenRecord | null = null;
    if (row.t_id !== null && kind === 'access') {
      token = {
        kind: 'access',
        id: row.t_id,
        consumerId: row.c_id,
        secret: this.box.open(row.t_secret as string),
        expiresAt: row.t_expires as number | null,
        revokedAt: row.t_revoked as number | null,
        lastUsedAt: row.t_last_used as number | null,
        user: toUser({
          id: row.u_id as number,
          username: row.u_username as string,
          email: row.u_email as string,
          display_name: row.u_display_name as string,
          password_hash: null,
          is_admin: row.u_is_admin as number,
          disabled_at: row.u_disabled as number | null,
          created_at: 0,
        }),
      };
    } else if (row.t_id !== null && kind === 'request') {
      token = toRequestToken(
        {
          id: row.t_id,
          consumer_id: row.c_id,
          secret_enc: row.t_secret as string,
          callback: row.t_callback as string,
          user_id: row.t_user_id as number | null,
          verifier_hash: row.t_verifier_hash as string | null,
          verifier_failures: row.t_verifier_failures as number,
          authorized_at: row.t_authorized_at as number | null,
          denied_at: row.t_denied_at as number | null,
          used_at: row.t_used_at as number | null,
          expires_at: row.t_expires as number,
        },
        this.box,
      );
    }
    return { consumer, token } as Credentials<K>;
  }

  private consumerFrom(row: CredentialRow): ConsumerRecord {
    return toConsumer(
      {
        id: row.c_id,
        consumer_key: row.c_key,
        name: row.c_name,
        description: row.c_description,
        callback_url: row.c_callback,
        secret_enc: row.c_secret,
        public_key: row.c_public_key,
        disabled_at: row.c_disabled,
        created_at: 0,
      },
      this.box,
    );
  }

  claimNonce(claim: NonceClaim, touch: TokenTouch | null): Promise<boolean> {
    return this.hot.claimNonce(claim, touch);
  }

  async createRequestToken(t: NewRequestToken, audit: AuditEvent): Promise<number> {
    const secretEnc = this.box.seal(t.secret);
    const id = await this.db.knex.transaction(async (trx) => {
      const [row] = await trx('request_tokens')
        .insert({
          token_hash: t.tokenHash,
          consumer_id: t.consumerId,
          secret_enc: secretEnc,
          callback: t.callback,
          created_at: t.createdAt,
          expires_at: t.expiresAt,
        })
        .returning('id');
      const created = (row as { id: number }).id;
      await recordAudit(trx, { ...audit, tokenId: created });
      return created;
    });
    this.onAudit(audit);
    return id;
  }

  async findRequestToken(tokenHash: string): Promise<{ token: RequestTokenRecord; consumer: ConsumerRecord } | null> {
    const row = await this.db
      .knex('request_tokens as t')
      .join('consumers as c', 'c.id', 't.consumer_id')
      .where('t.token_hash', tokenHash)
      .first(
        't.*',
        'c.consumer_key',
        'c.name',
        'c.description',
        'c.callback_url',
        'c.secret_enc as c_secret_enc',
        'c.public_key',
        'c.disabled_at',
        'c.created_at as c_created_at',
      );
    if (!row) return null;
    const r = row as RequestTokenRow & ConsumerRow & { c_secret_enc: string | null; c_created_at: number };
    return {
      token: toRequestToken(r, this.box),
      consumer: toConsumer(
        { ...r, id: r.consumer_id, secret_enc: r.c_secret_enc, created_at: r.c_created_at },
        this.box,
      ),
    };
  }

  approveRequestToken(id: number, userId: number, verifierHash: string, at: number, audit: AuditEvent) {
    return this.decide(id, at, { user_id: userId, verifier_hash: verifierHash, authorized_at: at }, audit);
  }

  denyRequestToken(id: number, userId: number, at: number, audit: AuditEvent) {
    return this.decide(id, at, { user_id: userId, denied_at: at }, audit);
  }

  private async decide(id: number, at: number, patch: Record<string, unknown>, audit: AuditEvent): Promise<boolean> {
    const decided = await this.db.knex.transaction(async (trx) => {
      // The conditional update is the claim: of two concurrent decisions, one sees 0 rows.
      if ((await this.undecided(trx, id, at).update(patch)) !== 1) return false;
      await recordAudit(trx, audit);
      return true;
    });
    if (decided) this.onAudit(audit);
    return decided;
  }

  private undecided(trx: Knex.Transaction, id: number, at: number): Knex.QueryBuilder {
    return trx('request_tokens')
      .where({ id })
      .whereNull('user_id')
      .whereNull('denied_at')
      .whereNull('used_at')
      .where('expires_at', '>', at);
  }

  async recordVerifierFailure(id: number): Promise<number> {
    const rows = await this.db
      .knex('request_tokens')
      .where({ id })
      .increment('verifier_failures', 1)
      .returning('verifier_failures');
    return (rows[0] as { verifier_failures: number } | undefined)?.verifier_failures ?? MAX_VERIFIER_FAILURES;
  }

  async exchangeRequestToken(e: Exchange, audit: AuditEvent): Promise<number | null> {
    const secretEnc = this.box.seal(e.accessSecret);
    const id = await this.db.knex.transaction(async (trx) => {
      // The conditional update is the claim: of two concurrent exchanges, one sees 0 rows.
      const claimed = await trx('request_tokens')
        .where({ id: e.requestTokenId, consumer_id: e.consumerId, user_id: e.userId })
        .whereNull('used_at')
        .whereNull('denied_at')
        .whereNotNull('verifier_hash')
        .where('verifier_failures', '<', MAX_VERIFIER_FAILURES)
        .update({ used_at: e.createdAt });
      if (claimed !== 1) return null;
      const [row] = await trx('access_tokens')
        .insert({
          token_hash: e.accessTokenHash,
          consumer_id: e.consumerId,
          user_id: e.userId,
          secret_enc: secretEnc,
          created_at: e.createdAt,
          expires_at: e.expiresAt,
        })
        .returning('id');
      const created = (row as { id: number }).id;
      await recordAudit(trx, { ...audit, tokenId: created });
      return created;
    });
    if (id !== null) this.onAudit(audit);
    return id;
  }

  async audit(e: AuditEvent): Promise<void> {
    await recordAudit(this.db.knex, e);
    this.onAudit(e);
  }
}

export async function recordAudit(knex: Knex, e: AuditEvent): Promise<void> {
  await knex('audit_events').insert({
    at: Date.now(),
    event: e.event,
    actor_user_id: e.actorUserId ?? null,
    consumer_id: e.consumerId ?? null,
    token_id: e.tokenId ?? null,
    ip: e.ip ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
  });
}
