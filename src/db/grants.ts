/** Access-token grants as users and admins see them (never their secrets), and revoking them. */
import type { Clock } from '../oauth1/ports';
import type { Queryable } from './queryable';

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

export interface GrantFilter {
  /** a grant id */
  id?: number | undefined;
  username?: string | undefined;
  consumerKey?: string | undefined;
  userId?: number | undefined;
  consumerId?: number | undefined;
  includeRevoked?: boolean | undefined;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class GrantRepository {
  constructor(private readonly clock: Clock) {}

  async list(db: Queryable, filter: GrantFilter = {}): Promise<Grant[]> {
    const q = db('access_tokens as t')
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
    if (filter.id !== undefined) q.where('t.id', filter.id);
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
      createdAt: Number(r.created_at),
      expiresAt: num(r.expires_at),
      revokedAt: num(r.revoked_at),
      lastUsedAt: num(r.last_used_at),
      lastUsedIp: (r.last_used_ip as string | null) ?? null,
    }));
  }

  /** Live (unrevoked) grants per consumer id. */
  async countLiveByConsumer(db: Queryable): Promise<Map<number, number>> {
    const rows: Array<{ consumer_id: number; n: number | string }> = await db('access_tokens')
      .whereNull('revoked_at')
      .select('consumer_id')
      .count({ n: '*' })
      .groupBy('consumer_id');
    return new Map(rows.map((r) => [r.consumer_id, Number(r.n)]));
  }

  /**
   * Revokes the live grant with this id, if it also matches the optional owner/consumer;
   * true when this call revoked it (a concurrent revocation makes only one call true).
   */
  async revoke(db: Queryable, id: number, only: { userId?: number; consumerId?: number } = {}): Promise<boolean> {
    const q = db('access_tokens').where({ id }).whereNull('revoked_at');
    if (only.userId !== undefined) q.where({ user_id: only.userId });
    if (only.consumerId !== undefined) q.where({ consumer_id: only.consumerId });
    return (await q.update({ revoked_at: this.clock.now() })) === 1;
  }

  /** Revokes every live grant of the user and/or consumer; how many. */
  async revokeAll(db: Queryable, filter: { userId?: number; consumerId?: number }): Promise<number> {
    const q = db('access_tokens').whereNull('revoked_at');
    if (filter.userId !== undefined) q.where({ user_id: filter.userId });
    if (filter.consumerId !== undefined) q.where({ consumer_id: filter.consumerId });
    return q.update({ revoked_at: this.clock.now() });
  }
}
