/**
 * ProtocolStore over SQL. The two statements of a signed API call (credential lookup and
 * nonce claim) are prepared once per dialect and run in one round trip each; everything
 * else goes through knex and may run inside a caller's transaction.
 */
import type { Knex } from 'knex';
import type { Database } from './index';
import type { SecretBox } from '../secret-box';
import { toConsumer, toUser, type ConsumerRow } from './rows';
import type {
  AccessTokenRecord,
  AuditEvent,
  ConsumerRecord,
  Credentials,
  Exchange,
  ExchangeOutcome,
  NewRequestToken,
  NonceClaim,
  ProtocolStore,
  Renewal,
  RenewalOutcome,
  RequestTokenRecord,
  StepRefusal,
  TokenKind,
  TokenTouch,
} from '../oauth1/ports';
import { capAt } from '../oauth1/tokens';
import { MAX_VERIFIER_FAILURES } from '../oauth1/ports';
import { createHotPath, type CredentialRow, type HotPath } from './hot-path';
import { auditRow } from './audit';

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
      const [row]: Array<{ id: number }> = await trx('request_tokens')
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
      .first<(RequestTokenRow & ConsumerRow & { c_secret_enc: string | null; c_created_at: number }) | undefined>(
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
    const r = row;
    return {
      token: toRequestToken(r, this.box),
      consumer: toConsumer(
        { ...r, id: r.consumer_id, secret_enc: r.c_secret_enc, created_at: r.c_created_at },
        this.box,
      ),
    };
  }

  approveRequestToken(id: number, userId: number, verifierHash: string, at: number, audit: AuditEvent) {
    return this.decide(id, userId, at, { user_id: userId, verifier_hash: verifierHash, authorized_at: at }, audit);
  }

  denyRequestToken(id: number, userId: number, at: number, audit: AuditEvent) {
    return this.decide(id, userId, at, { user_id: userId, denied_at: at }, audit);
  }

  private async decide(
    id: number,
    userId: number,
    at: number,
    patch: Record<string, unknown>,
    audit: AuditEvent,
  ): Promise<boolean> {
    const decided = await this.db.knex.transaction(async (trx) => {
      // The conditional update is the claim: of two concurrent decisions, one sees 0 rows;
      // and it holds only while the deciding user and the consumer are enabled.
      const q = trx('request_tokens')
        .where({ id })
        .whereNull('user_id')
        .whereNull('denied_at')
        .whereNull('used_at')
        .where('expires_at', '>', at)
        .whereExists(enabledConsumer(trx, 'request_tokens'))
        .whereExists(enabledUser(trx, userId));
      if ((await q.update(patch)) !== 1) return false;
      await recordAudit(trx, audit);
      return true;
    });
    if (decided) this.onAudit(audit);
    return decided;
  }

  async recordVerifierFailure(id: number, audit: AuditEvent): Promise<number> {
    const event = await this.db.knex.transaction(async (trx) => {
      const rows = await trx('request_tokens')
        .where({ id })
        .increment('verifier_failures', 1)
        .returning('verifier_failures');
      const failures = (rows[0] as { verifier_failures: number } | undefined)?.verifier_failures;
      if (failures === undefined) return null;
      const e = { ...audit, detail: { ...audit.detail, failures, killed: failures >= MAX_VERIFIER_FAILURES } };
      await recordAudit(trx, e);
      return e;
    });
    if (event === null) return MAX_VERIFIER_FAILURES;
    this.onAudit(event);
    return event.detail.failures;
  }

  async exchangeRequestToken(e: Exchange, audit: AuditEvent): Promise<ExchangeOutcome> {
    const secretEnc = this.box.seal(e.accessSecret);
    const outcome = await this.db.knex.transaction(async (trx): Promise<ExchangeOutcome> => {
      // The conditional update is the claim: of two concurrent exchanges, one sees 0 rows.
      // It also holds only while the approving user and the consumer are enabled, checked
      // in the same statement: a grant is never created for a disabled user or consumer.
      const claimed = await trx('request_tokens')
        .where({ id: e.requestTokenId, consumer_id: e.consumerId, user_id: e.userId })
        .whereNull('used_at')
        .whereNull('denied_at')
        .whereNotNull('verifier_hash')
        .where('verifier_failures', '<', MAX_VERIFIER_FAILURES)
        .whereExists(enabledConsumer(trx, 'request_tokens'))
        .whereExists(enabledUser(trx, e.userId))
        .update({ used_at: e.createdAt });
      if (claimed !== 1) {
        const refused = await whyRefused(trx, e.userId, e.consumerId);
        // A disabled user's approval is void, not merely paused until re-enabled.
        if (refused === 'user_disabled') {
          await trx('request_tokens')
            .where({ id: e.requestTokenId })
            .whereNull('used_at')
            .update({ denied_at: e.createdAt });
        }
        return { refused };
      }
      const [row]: Array<{ id: number }> = await trx('access_tokens')
        .insert({
          token_hash: e.accessTokenHash,
          consumer_id: e.consumerId,
          user_id: e.userId,
          secret_enc: secretEnc,
          created_at: e.createdAt,
          expires_at: e.expiresAt,
          session_handle_hash: e.sessionHandleHash,
          authorization_expires_at: e.authorizationExpiresAt,
        })
        .returning('id');
      const created = (row as { id: number }).id;
      await recordAudit(trx, { ...audit, tokenId: created });
      return { id: created };
    });
    if ('id' in outcome) this.onAudit(audit);
    return outcome;
  }

  async renewAccessToken(r: Renewal, audit: AuditEvent): Promise<RenewalOutcome> {
    const secretEnc = this.box.seal(r.newSecret);
    const outcome = await this.db.knex.transaction(async (trx): Promise<RenewalOutcome> => {
      const grant = await trx('access_tokens as t')
        .join('users as u', 'u.id', 't.user_id')
        .join('consumers as c', 'c.id', 't.consumer_id')
        .where('t.id', r.accessTokenId)
        .first<GrantSessionRow | undefined>(
          't.token_hash',
          't.session_handle_hash',
          't.revoked_at',
          't.authorization_expires_at',
          'u.disabled_at as u_disabled',
          'c.disabled_at as c_disabled',
        );
      if (!grant) return { renewed: false, refused: 'raced' };
      const refused = renewalRefusal(grant, r);
      if (refused) return { renewed: false, refused };
      const expiresAt = capAt(r.expiresAt, grant.authorization_expires_at);
      // The claim: the grant must still carry the token the renewal was signed with (of
      // two concurrent renewals, the second finds the first one's token there and loses),
      // and still be live, in the same statement that replaces it.
      const won = await trx('access_tokens')
        .where({ id: r.accessTokenId, token_hash: r.tokenHash, session_handle_hash: r.sessionHandleHash })
        .whereNull('revoked_at')
        .whereRaw('(authorization_expires_at IS NULL OR authorization_expires_at > ?)', [r.at])
        .whereExists(enabledConsumer(trx, 'access_tokens'))
        .whereExists(enabledUser(trx, null))
        .update({
          token_hash: r.newTokenHash,
          secret_enc: secretEnc,
          expires_at: expiresAt,
          last_used_at: r.at,
          last_used_ip: r.ip,
        });
      if (won !== 1) return { renewed: false, refused: 'raced' };
      await recordAudit(trx, audit);
      return { renewed: true, expiresAt, authorizationExpiresAt: grant.authorization_expires_at };
    });
    if (outcome.renewed) this.onAudit(audit);
    return outcome;
  }

  async audit(e: AuditEvent): Promise<void> {
    await recordAudit(this.db.knex, e);
    this.onAudit(e);
  }
}

interface GrantSessionRow {
  token_hash: string;
  session_handle_hash: string | null;
  revoked_at: number | null;
  authorization_expires_at: number | null;
  u_disabled: number | null;
  c_disabled: number | null;
}

/** Why a renewal may not proceed, in the order a consumer can act on it; null = it may. */
function renewalRefusal(g: GrantSessionRow, r: Renewal): Exclude<RenewalOutcome, { renewed: true }>['refused'] | null {
  if (g.revoked_at !== null) return 'revoked';
  if (g.c_disabled !== null) return 'consumer_disabled';
  if (g.u_disabled !== null) return 'user_disabled';
  if (g.token_hash !== r.tokenHash) return 'raced';
  if (g.session_handle_hash === null || g.session_handle_hash !== r.sessionHandleHash) return 'handle';
  if (g.authorization_expires_at !== null && g.authorization_expires_at <= r.at) return 'authorization_expired';
  return null;
}

/** `EXISTS`: the row's consumer is enabled. */
const enabledConsumer = (trx: Knex.Transaction, table: string) =>
  trx('consumers')
    .select(trx.raw('1'))
    .whereRaw('consumers.id = ??', [`${table}.consumer_id`])
    .whereNull('disabled_at');

/** `EXISTS`: the user (by id, or the row's user_id when null) is enabled. */
const enabledUser = (trx: Knex.Transaction, userId: number | null) => {
  const q = trx('users').select(trx.raw('1')).whereNull('disabled_at');
  return userId === null ? q.whereRaw('users.id = access_tokens.user_id') : q.where('users.id', userId);
};

/** After a step's conditional write found nothing: was it the user, the consumer, or a race? */
async function whyRefused(trx: Knex.Transaction, userId: number, consumerId: number): Promise<StepRefusal> {
  const c = await trx('consumers')
    .where({ id: consumerId })
    .first<{ disabled_at: number | null } | undefined>('disabled_at');
  if (!c || c.disabled_at !== null) return 'consumer_disabled';
  const u = await trx('users').where({ id: userId }).first<{ disabled_at: number | null } | undefined>('disabled_at');
  if (!u || u.disabled_at !== null) return 'user_disabled';
  return 'raced';
}

export async function recordAudit(knex: Knex, e: AuditEvent): Promise<void> {
  await knex('audit_events').insert(auditRow(e, Date.now()));
}
