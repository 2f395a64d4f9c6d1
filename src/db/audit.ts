/** The audit log: writing one entry (inside the caller's transaction) and reading the log. */
import type { AuditEvent, Clock } from '../oauth1/ports';
import type { Queryable } from './queryable';

export interface AuditEntry {
  id: number;
  at: number;
  event: string;
  actor: string | null;
  consumerKey: string | null;
  tokenId: number | null;
  ip: string | null;
  detail: string | null;
}

export interface AuditFilter {
  event?: string | undefined;
  username?: string | undefined;
  consumerKey?: string | undefined;
  /** ms since the epoch, inclusive */
  since?: number | undefined;
  /** ms since the epoch, exclusive */
  until?: number | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export class AuditRepository {
  constructor(private readonly clock: Clock) {}

  /** The time entries are stamped with. */
  now(): number {
    return this.clock.now();
  }

  /** Writes one entry, stamped with the clock's time; pass the transaction of the change it records. */
  async insert(db: Queryable, e: AuditEvent): Promise<void> {
    await db('audit_events').insert(auditRow(e, this.clock.now()));
  }

  async list(db: Queryable, f: AuditFilter = {}): Promise<AuditEntry[]> {
    const q = db('audit_events as a')
      .leftJoin('users as u', 'u.id', 'a.actor_user_id')
      .leftJoin('consumers as c', 'c.id', 'a.consumer_id')
      .select('a.id', 'a.at', 'a.event', 'u.username', 'c.consumer_key', 'a.token_id', 'a.ip', 'a.detail')
      .orderBy('a.id', 'desc')
      .limit(f.limit ?? 50)
      .offset(f.offset ?? 0);
    if (f.event) q.where('a.event', f.event);
    if (f.username) q.where('u.username', f.username);
    if (f.consumerKey) q.where('c.consumer_key', f.consumerKey);
    if (f.since !== undefined) q.where('a.at', '>=', f.since);
    if (f.until !== undefined) q.where('a.at', '<', f.until);
    const rows = (await q) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      at: Number(r.at),
      event: r.event as string,
      actor: (r.username as string | null) ?? null,
      consumerKey: (r.consumer_key as string | null) ?? null,
      tokenId: (r.token_id as number | null) ?? null,
      ip: (r.ip as string | null) ?? null,
      detail: (r.detail as string | null) ?? null,
    }));
  }

  /** The event names that occur in the log. */
  async events(db: Queryable): Promise<string[]> {
    const rows = (await db('audit_events').distinct('event').orderBy('event')) as Array<{ event: string }>;
    return rows.map((r) => r.event);
  }
}

/** The audit_events row of `e`, written at `at` (every knex writer of the log uses it). */
export function auditRow(e: AuditEvent, at: number): Record<string, unknown> {
  return {
    at,
    event: e.event,
    actor_user_id: e.actorUserId ?? null,
    consumer_id: e.consumerId ?? null,
    token_id: e.tokenId ?? null,
    ip: e.ip ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
  };
}
