/**
 * Housekeeping: nonces older than the timestamp window (they could only be refused as
 * stale now), request tokens an hour past expiry, expired sessions and counters.
 *
 * Safe on every node at once and never in the way of requests: rows go in small batches
 * (short statements, short row locks), the event loop gets a turn between batches (on
 * SQLite the one connection is free for requests in between), and on PostgreSQL a batch
 * skips rows another node's sweep has locked instead of waiting for them.
 */
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Database } from './index';

export interface SweepResult {
  nonces: number;
  requestTokens: number;
  sessions: number;
  /** brute-force and sampling counters past their window (migration 020) */
  throttles: number;
}

export interface SweepOptions {
  /** rows per delete statement */
  batchSize?: number;
}

/** Keep expired request tokens an hour so a late exchange still hears token_expired. */
export const EXPIRED_REQUEST_TOKEN_GRACE_MS = 3_600_000;

export async function sweep(
  db: Database,
  now: number,
  timestampWindowS: number,
  options: SweepOptions = {},
): Promise<SweepResult> {
  const batch = options.batchSize ?? 1000;
  const nonces = await deleteOlder(db, 'nonces', 'timestamp', Math.floor(now / 1000) - timestampWindowS - 1, batch);
  // Every signed call inserts a nonce and this deletes as many: on PostgreSQL the dead rows
  // must be vacuumed for their space to be reused. Migration 007 asks autovacuum to visit
  // the table often, but a server may run with autovacuum off, so vacuum it here too
  // (SKIP_LOCKED: when another node is already at it, leave it to that node).
  if (nonces > 0 && db.dialect === 'pg') await db.knex.raw('VACUUM (SKIP_LOCKED) nonces');
  return {
    nonces,
    requestTokens: await deleteOlder(db, 'request_tokens', 'expires_at', now - EXPIRED_REQUEST_TOKEN_GRACE_MS, batch),
    sessions: await deleteOlder(db, 'sessions', 'expires_at', now, batch),
    throttles: await deleteOlder(db, 'throttles', 'expires_at', now, batch),
  };
}

const SQLITE_BATCH_KEY: Readonly<Record<string, string>> = {
  nonces: 'timestamp, consumer_id, token_ref, nonce',
};

/** Deletes rows with column < cutoff, batch by batch; returns how many this node deleted. */
async function deleteOlder(db: Database, table: string, column: string, cutoff: number, batch: number) {
  // The row's physical id picks the batch: ctid on PostgreSQL, rowid on SQLite, or the
  // primary key on SQLite's WITHOUT ROWID tables (nonces, migration 007).
  const key = SQLITE_BATCH_KEY[table] ?? 'rowid';
  const statement =
    db.dialect === 'pg'
      ? `DELETE FROM ?? WHERE ctid = ANY(ARRAY(SELECT ctid FROM ?? WHERE ?? < ? LIMIT ? FOR UPDATE SKIP LOCKED))`
      : `DELETE FROM ?? WHERE (${key}) IN (SELECT ${key} FROM ?? WHERE ?? < ? LIMIT ?)`;
  let total = 0;
  for (;;) {
    const result: unknown = await db.knex.raw(statement, [table, table, column, cutoff, batch]);
    const n = db.dialect === 'pg' ? (result as { rowCount: number }).rowCount : (result as { changes: number }).changes;
    total += n;
    if (n < batch) return total;
    await yieldToRequests();
  }
}
