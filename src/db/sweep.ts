/**
 * Housekeeping: nonces older than the timestamp window (they could only be refused as
 * stale now), request tokens past expiry, expired sessions. Plain deletes by an indexed
 * time column, safe to run on every node at once.
 */
import type { Knex } from 'knex';

export interface SweepResult {
  nonces: number;
  requestTokens: number;
  sessions: number;
}

export async function sweep(knex: Knex, now: number, timestampWindowS: number): Promise<SweepResult> {
  const nonces = await knex('nonces')
    .where('timestamp', '<', Math.floor(now / 1000) - timestampWindowS - 1)
    .delete();
  // Every signed call inserts a nonce and this deletes as many: on PostgreSQL the dead rows
  // must be vacuumed for their space to be reused. Migration 007 asks autovacuum to visit
  // the table often, but a server may run with autovacuum off, so vacuum it here too
  // (SKIP_LOCKED: when another node is already at it, leave it to that node).
  if (nonces > 0 && knex.client.config.client === 'pg') await knex.raw('VACUUM (SKIP_LOCKED) nonces');
  // Keep expired request tokens an hour so a late exchange still hears token_expired.
  const requestTokens = await knex('request_tokens')
    .where('expires_at', '<', now - 3_600_000)
    .delete();
  const sessions = await knex('sessions').where('expires_at', '<', now).delete();
  return { nonces, requestTokens, sessions };
}
