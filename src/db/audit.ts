/** Reading the audit log (writing happens through ProtocolStore.audit / recordAudit). */
import type { Knex } from 'knex';

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

export class AuditRepository {
  constructor(private readonly knex: Knex) {}

  async list(
    f: {
      event?: string | undefined;
      username?: string | undefined;
      consumerKey?: string | undefined;
      /** ms since the epoch, inclusive */
      since?: number | undefined;
      /** ms since the epoch, exclusive */
      until?: number | undefined;
      limit?: number;
      offset?: number;
    } = {},
  ): Promise<AuditEntry[]> {
    const q = this.knex('audit_events as a')
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
      at: r.at as number,
      event: r.event as string,
      actor: (r.username as string | null) ?? null,
      consumerKey: (r.consumer_key as string | null) ?? null,
      tokenId: (r.token_id as number | null) ?? null,
      ip: (r.ip as string | null) ?? null,
      detail: (r.detail as string | null) ?? null,
    }));
  }

  /** The event names that occur in the log, for the console's filter. */
  async events(): Promise<string[]> {
    const rows = (await this.knex('audit_events').distinct('event').orderBy('event')) as Array<{ event: string }>;
    return rows.map((r) => r.event);
  }
}
