/**
 * Counters in the shared database (table `throttles`, migration 020): the brute-force
 * brakes and the sampling of repeated refusals. Every node on one PostgreSQL counts into
 * the same rows, so a limit holds for the whole deployment, not per node; SQLite (one
 * node) uses the same table. A hit is one atomic upsert that also returns the time of the
 * hit before it, so two nodes (or two requests) racing each see a distinct count.
 */
import type { Knex } from 'knex';

export interface ThrottleState {
  /** hits in the current window, this one included */
  hits: number;
  /** ms time of the previous hit in this window, 0 when this is the first */
  prevAt: number;
  /** ms time of the last hit */
  lastAt: number;
  expiresAt: number;
}

export interface HitOptions {
  /** how long the count lasts */
  windowMs: number;
  /**
   * false (default): a fixed window from the first hit, then the count starts again;
   * true: the count lasts `windowMs` after the LAST hit (a brake that forgets only after
   * a quiet period).
   */
  sliding?: boolean;
}

/** Longest key kept (longer ones are cut: keys are built from bounded parts anyway). */
const BUCKET_MAX = 512;

export class ThrottleStore {
  constructor(private readonly knex: Knex) {}

  async hit(bucket: string, now: number, o: HitOptions): Promise<ThrottleState> {
    const key = bucket.slice(0, BUCKET_MAX);
    const exp = now + o.windowMs;
    // Every right-hand side reads the row as it was: one statement, one row lock.
    const result: unknown = await this.knex.raw(
      `INSERT INTO throttles (bucket, hits, prev_at, last_at, expires_at) VALUES (?, 1, 0, ?, ?)
       ON CONFLICT (bucket) DO UPDATE SET
         hits = CASE WHEN throttles.expires_at <= ? THEN 1 ELSE throttles.hits + 1 END,
         prev_at = CASE WHEN throttles.expires_at <= ? THEN 0 ELSE throttles.last_at END,
         last_at = ?,
         expires_at = CASE WHEN ${o.sliding === true ? '1 = 1' : '1 = 0'} OR throttles.expires_at <= ? THEN ? ELSE throttles.expires_at END
       RETURNING hits, prev_at, last_at, expires_at`,
      [key, now, exp, now, now, now, now, exp],
    );
    const rows = Array.isArray(result) ? result : (result as { rows: unknown[] }).rows;
    return toState(rows[0] as Row);
  }

  /** The live count, or null when there is none (never hit, or the window is over). */
  async peek(bucket: string, now: number): Promise<ThrottleState | null> {
    const row = await this.knex('throttles')
      .where({ bucket: bucket.slice(0, BUCKET_MAX) })
      .where('expires_at', '>', now)
      .first<Row | undefined>('hits', 'prev_at', 'last_at', 'expires_at');
    return row ? toState(row) : null;
  }

  async clear(bucket: string): Promise<void> {
    await this.knex('throttles')
      .where({ bucket: bucket.slice(0, BUCKET_MAX) })
      .delete();
  }
}

interface Row {
  hits: number | string;
  prev_at: number | string;
  last_at: number | string;
  expires_at: number | string;
}

const toState = (r: Row): ThrottleState => ({
  hits: Number(r.hits),
  prevAt: Number(r.prev_at),
  lastAt: Number(r.last_at),
  expiresAt: Number(r.expires_at),
});
