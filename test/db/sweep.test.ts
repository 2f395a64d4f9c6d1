// The sweep on both databases: what goes and what stays, batch by batch, run by several
// nodes at once, and never holding requests up; and the server really runs it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db';
import { sweep, EXPIRED_REQUEST_TOKEN_GRACE_MS } from '../../src/db/sweep';
import { startServer } from '../../src/server';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { freshDatabase, rowCount, type FreshDatabase } from '../helpers/db';
import { testDatabases } from '../helpers/server';
import { must } from '../helpers/must';

const NOW = Date.UTC(2030, 0, 1);
const NOW_S = NOW / 1000;
const WINDOW = 300;

/** Seeds `stale` and `fresh` rows of every swept kind; returns the ids that must survive. */
async function seed(db: Database, stale: number, fresh: number) {
  const knex = db.knex;
  const [consumer] = await knex('consumers')
    .insert({ consumer_key: 'k', name: 'k', secret_enc: 'x', created_at: NOW })
    .returning<Array<{ id: number }>>('id');
  const consumerId = must(consumer, 'the inserted consumer').id;
  const nonces = [];
  for (let i = 0; i < stale; i++)
    nonces.push({ consumer_id: consumerId, token_ref: '', timestamp: NOW_S - WINDOW - 2 - (i % 50), nonce: `s${i}` });
  for (let i = 0; i < fresh; i++)
    nonces.push({ consumer_id: consumerId, token_ref: 'a1', timestamp: NOW_S - WINDOW + (i % 50), nonce: `f${i}` });
  for (let i = 0; i < nonces.length; i += 500) await knex('nonces').insert(nonces.slice(i, i + 500));
  const token = (hash: string, expires: number) => ({
    token_hash: hash,
    consumer_id: consumerId,
    secret_enc: 'x',
    callback: 'oob',
    created_at: expires - 600_000,
    expires_at: expires,
  });
  const rts = [];
  for (let i = 0; i < stale; i++) rts.push(token(`stale${i}`, NOW - EXPIRED_REQUEST_TOKEN_GRACE_MS - 1 - i));
  // expired, but within the grace hour: kept so a late exchange hears token_expired
  rts.push(token('recent', NOW - 1000));
  for (let i = 0; i < fresh; i++) rts.push(token(`live${i}`, NOW + 60_000));
  for (let i = 0; i < rts.length; i += 500) await knex('request_tokens').insert(rts.slice(i, i + 500));
  const sessions = [];
  for (let i = 0; i < stale; i++) sessions.push({ sid: `old${i}`, sess: '{}', expires_at: NOW - 1 - i });
  for (let i = 0; i < fresh; i++) sessions.push({ sid: `new${i}`, sess: '{}', expires_at: NOW + 3_600_000 });
  for (let i = 0; i < sessions.length; i += 500) await knex('sessions').insert(sessions.slice(i, i + 500));
}

describe.each(await testDatabases())('sweep on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  beforeEach(async () => {
    fresh = await freshDatabase(kind);
    db = fresh.open();
    await db.migrate();
  });
  afterEach(() => fresh.cleanup());

  it('removes stale nonces, long-expired request tokens and expired sessions, in batches, and nothing else', async () => {
    await seed(db, 23, 11);
    const r = await sweep(db, NOW, WINDOW, { batchSize: 5 });
    expect(r).toEqual({ nonces: 23, requestTokens: 23, sessions: 23, throttles: 0 });
    expect(await rowCount(db, 'nonces')).toBe(11);
    expect((await db.knex('nonces').select<Array<{ nonce: string }>>('nonce')).every((n) => n.nonce[0] === 'f')).toBe(
      true,
    );
    const rts = (await db.knex('request_tokens').select<Array<{ token_hash: string }>>('token_hash')).map(
      (t) => t.token_hash,
    );
    expect(rts.sort()).toEqual(['recent', ...Array.from({ length: 11 }, (_, i) => `live${i}`)].sort());
    expect(await rowCount(db, 'sessions')).toBe(11);
    expect(await sweep(db, NOW, WINDOW)).toEqual({ nonces: 0, requestTokens: 0, sessions: 0, throttles: 0 });
  });

  it('several nodes sweeping at once delete every stale row exactly once, without errors', async () => {
    await seed(db, 3000, 100);
    const nodes = [db, fresh.open(), fresh.open()];
    const results = await Promise.all(nodes.map((n) => sweep(n, NOW, WINDOW, { batchSize: 200 })));
    const sum = (k: 'nonces' | 'requestTokens' | 'sessions') => results.reduce((a, r) => a + r[k], 0);
    expect([sum('nonces'), sum('requestTokens'), sum('sessions')]).toEqual([3000, 3000, 3000]);
    expect([
      await rowCount(db, 'nonces'),
      await rowCount(db, 'request_tokens'),
      await rowCount(db, 'sessions'),
    ]).toEqual([100, 101, 100]);
  });

  it('does not hold requests up: a query issued during a long sweep is answered before the sweep ends', async () => {
    await seed(db, 20_000, 0);
    let swept = false;
    const sweeping = sweep(db, NOW, WINDOW, { batchSize: 500 }).then((r) => {
      swept = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    // answered while the sweep is under way: most stale nonces are still there
    const left = await rowCount(db, 'nonces');
    expect(swept).toBe(false);
    expect(left).toBeGreaterThan(10_000);
    expect((await sweeping).nonces).toBe(20_000);
  });

  it('the server sweeps on its own schedule', async () => {
    const config = loadConfig({
      APPLINK_PORT: '0',
      APPLINK_DATABASE_URL: fresh.url,
      APPLINK_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      APPLINK_LOG_LEVEL: 'silent',
    });
    const knex = db.knex;
    await knex('sessions').insert([
      { sid: 'gone', sess: '{}', expires_at: Date.now() - 1 },
      { sid: 'kept', sess: '{}', expires_at: Date.now() + 3_600_000 },
    ]);
    const running = await startServer(config, createLogger(config), { sweepIntervalMs: 50 });
    try {
      await expect
        .poll(async () => (await knex('sessions').pluck('sid')) as string[], { timeout: 5000 })
        .toEqual(['kept']);
    } finally {
      await running.close();
    }
  });
});
