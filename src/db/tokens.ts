/** Access-token grants as users and admins see them, and their revocation. */
import type { Knex } from 'knex';

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
  constructor(private readonly knex: Knex) {}

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

  /** Revokes one grant (optionally only if it belongs to userId); false if none was live. */
  async revoke(id: number, onlyForUserId?: number): Promise<boolean> {
    const q = this.knex('access_tokens').where({ id }).whereNull('revoked_at');
    if (onlyForUserId !== undefined) q.where({ user_id: onlyForUserId });
    return (await q.update({ revoked_at: Date.now() })) === 1;
  }

  async revokeAll(filter: { userId?: number; consumerId?: number }): Promise<number> {
    const q = this.knex('access_tokens').whereNull('revoked_at');
    if (filter.userId !== undefined) q.where({ user_id: filter.userId });
    if (filter.consumerId !== undefined) q.where({ consumer_id: filter.consumerId });
    return q.update({ revoked_at: Date.now() });
  }
}
