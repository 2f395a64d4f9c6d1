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
  // Keep expired request tokens an hour so a late exchange still hears token_expired.
  const requestTokens = await knex('request_tokens')
    .where('expires_at', '<', now - 3_600_000)
    .delete();
  const sessions = await knex('sessions').where('expires_at', '<', now).delete();
  return { nonces, requestTokens, sessions };
}
