/** Access-token grants as users and admins see them, and their revocation. */
import type { Knex } from 'knex';
import type { AuditEvent } from '../oauth1/ports';
import { recordAudit } from './protocol-store';

export interface Grant {
  id: number;
  username: string;
  userId: number;
  consumerId: number;
  consumerKey: string;
  consumerName: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
}

export class TokenRepository {
  constructor(
    private readonly knex: Knex,
    /** told of every audit event written through this repository (metrics) */
    private readonly onAudit: (e: AuditEvent) => void = () => undefined,
  ) {}

  async list(
    filter: {
      username?: string | undefined;
      consumerKey?: string | undefined;
      userId?: number | undefined;
      consumerId?: number | undefined;
      includeRevoked?: boolean;
    } = {},
  ): Promise<Grant[]> {
    const q = this.knex('access_tokens as t')
      .join('users as u', 'u.id', 't.user_id')
      .join('consumers as c', 'c.id', 't.consumer_id')
      .select(
        't.id',
        'u.username',
        't.user_id',
        't.consumer_id',
        'c.consumer_key',
        'c.name as consumer_name',
        't.created_at',
        't.expires_at',
        't.revoked_at',
        't.last_used_at',
        't.last_used_ip',
      )
      .orderBy('t.id');
    if (filter.username !== undefined) q.where('u.username', filter.username);
    if (filter.userId !== undefined) q.where('t.user_id', filter.userId);
    if (filter.consumerKey !== undefined) q.where('c.consumer_key', filter.consumerKey);
    if (filter.consumerId !== undefined) q.where('t.consumer_id', filter.consumerId);
    if (!filter.includeRevoked) q.whereNull('t.revoked_at');
    const rows = (await q) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      username: r.username as string,
      userId: r.user_id as number,
      consumerId: r.consumer_id as number,
      consumerKey: r.consumer_key as string,
      consumerName: r.consumer_name as string,
      createdAt: r.created_at as number,
      expiresAt: r.expires_at as number | null,
      revokedAt: r.revoked_at as number | null,
      lastUsedAt: r.last_used_at as number | null,
      lastUsedIp: r.last_used_ip as string | null,
    }));
  }

  /** Live (unrevoked) grants per consumer id, for the admin console's counts. */
  async countLiveByConsumer(): Promise<Map<number, number>> {
    const rows = (await this.knex('access_tokens')
      .whereNull('revoked_at')
      .select('consumer_id')
      .count({ n: '*' })
      .groupBy('consumer_id')) as Array<{ consumer_id: number; n: number | string }>;
    return new Map(rows.map((r) => [r.consumer_id, Number(r.n)]));
  }

  /**
   * Revokes one grant (optionally only if it belongs to userId); false if none was live.
   * The audit event, when given, is written in the same transaction, and only if this
   * call revoked the grant.
   */
  async revoke(id: number, onlyForUserId?: number, audit?: AuditEvent): Promise<boolean> {
    const revoked = await this.knex.transaction(async (trx) => {
      const q = trx('access_tokens').where({ id }).whereNull('revoked_at');
      if (onlyForUserId !== undefined) q.where({ user_id: onlyForUserId });
      const rows = (await q.update({ revoked_at: Date.now() }, ['consumer_id'])) as Array<{ consumer_id: number }>;
      if (rows.length !== 1) return false;
      if (audit) await recordAudit(trx, { ...audit, tokenId: id, consumerId: rows[0]!.consumer_id });
      return true;
    });
    if (revoked && audit) this.onAudit(audit);
    return revoked;
  }

  /**
   * Revokes every live grant matching the filter; returns how many. The audit event, when
   * given, is written in the same transaction with the count, and only if any was revoked.
   */
  async revokeAll(filter: { userId?: number; consumerId?: number }, audit?: AuditEvent): Promise<number> {
    const done = await this.knex.transaction(async (trx) => {
      const q = trx('access_tokens').whereNull('revoked_at');
      if (filter.userId !== undefined) q.where({ user_id: filter.userId });
      if (filter.consumerId !== undefined) q.where({ consumer_id: filter.consumerId });
      const count = await q.update({ revoked_at: Date.now() });
      const event = audit && count > 0 ? { ...audit, detail: { ...audit.detail, count } } : null;
      if (event) await recordAudit(trx, event);
      return { count, event };
    });
    if (done.event) this.onAudit(done.event);
    return done.count;
  }
}
