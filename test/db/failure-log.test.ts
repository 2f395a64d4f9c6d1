// The failure log's bounds on SQLite and PostgreSQL: a flood of refusals from one consumer
// or from random unknown keys never grows the table past its per-list bound, each write
// carries at most perFlush rows per list, identical failures share a row and a count, and
// memory between writes is bounded too.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db';
import {
  FAILURE_LOG_DEFAULTS,
  FailureLog,
  cleanKey,
  recentFailures,
  unknownKeys,
  type FailureReport,
} from '../../src/db/failure-log';
import { freshDatabase, rowCount, type FreshDatabase } from '../helpers/db';
import { testDatabases } from '../helpers/server';
import { must } from '../helpers/must';

describe.each(await testDatabases())('failure log on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  let consumerId: number;
  let otherId: number;

  beforeAll(async () => {
    fresh = await freshDatabase(kind);
    db = fresh.open();
    await db.migrate();
    const [a] = await db
      .knex('consumers')
      .insert({ consumer_key: 'jira', name: 'Jira', created_at: Date.now() })
      .returning<Array<{ id: number }>>('id');
    const [b] = await db
      .knex('consumers')
      .insert({ consumer_key: 'wiki', name: 'Wiki', created_at: Date.now() })
      .returning<Array<{ id: number }>>('id');
    consumerId = must(a, 'the jira consumer').id;
    otherId = must(b, 'the wiki consumer').id;
  });
  afterAll(() => fresh.cleanup());

  const report = (over: Partial<FailureReport> = {}): FailureReport => ({
    at: Date.now(),
    consumerKey: 'jira',
    problem: 'timestamp_refused',
    ip: '192.0.2.1',
    method: 'GET',
    path: '/rest/api/1/myself',
    clockSkew: 400,
    hint: 'clock',
    ...over,
  });
  const rows = () => rowCount(db, 'consumer_failures');
  const clear = () => db.knex('consumer_failures').delete();

  it('identical failures are one row with a count; the newest facts win', async () => {
    await clear();
    const log = new FailureLog(db.knex);
    for (let i = 0; i < 1000; i++) log.record(report({ clockSkew: 400 + i }));
    await log.flush();
    for (let i = 0; i < 500; i++) log.record(report({ clockSkew: 2000 + i }));
    await log.flush();
    const list = await recentFailures(db.knex, consumerId);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ count: 1500, problem: 'timestamp_refused', clockSkew: 2499, consumerKey: null });
    const only = must(list[0], 'the one row');
    expect(only.firstAt).toBeLessThanOrEqual(only.lastAt);
    expect(await recentFailures(db.knex, otherId)).toEqual([]);
  });

  it('a flood from one consumer: at most perFlush rows per write, never more than keep rows', async () => {
    await clear();
    const log = new FailureLog(db.knex);
    let writes = 0;
    for (let round = 0; round < 30; round++) {
      const before = await rows();
      // 400 refusals in one second, each from another address and path
      for (let i = 0; i < 400; i++) {
        log.record(report({ ip: `198.51.100.${i % 250}`, path: `/p/${round}/${i}`, problem: 'signature_invalid' }));
      }
      await log.flush();
      writes++;
      const after = await rows();
      expect(after - before).toBeLessThanOrEqual(FAILURE_LOG_DEFAULTS.perFlush);
      expect(after).toBeLessThanOrEqual(FAILURE_LOG_DEFAULTS.keep);
    }
    expect(writes).toBe(30);
    expect(await rows()).toBe(FAILURE_LOG_DEFAULTS.keep);
    expect(log.dropped).toBe(30 * (400 - FAILURE_LOG_DEFAULTS.perFlush));
    // the newest are kept
    const list = await recentFailures(db.knex, consumerId);
    expect(list).toHaveLength(FAILURE_LOG_DEFAULTS.keep);
    expect(list.every((f) => Number(f.path.split('/')[2]) >= 20)).toBe(true);
  });

  it('a flood of random unknown keys fills one bounded list; keys are cleaned and cut', async () => {
    await clear();
    const log = new FailureLog(db.knex);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1000; i++) {
        const key = i % 3 === 0 ? `k\u0000\u00e9${'x'.repeat(300)}` : randomBytes(20).toString('base64');
        log.record(report({ consumerKey: key, problem: 'consumer_key_unknown' }));
      }
      await log.flush();
      expect(await rows()).toBeLessThanOrEqual(FAILURE_LOG_DEFAULTS.keep);
    }
    const list = await unknownKeys(db.knex);
    expect(list).toHaveLength(FAILURE_LOG_DEFAULTS.keep);
    for (const f of list) {
      expect(must(f.consumerKey, 'the unknown key').length).toBeLessThanOrEqual(64);
      expect(f.consumerKey).toMatch(/^[\x20-\x7e]+$/);
    }
    // the known consumers' lists are not touched by it
    expect(await recentFailures(db.knex, consumerId)).toEqual([]);
  });

  it('memory between writes is bounded: maxKeys keys, perFlush failures each', async () => {
    await clear();
    const log = new FailureLog(db.knex, { maxKeys: 10, flushMs: 60_000 });
    for (let i = 0; i < 5000; i++) log.record(report({ consumerKey: `key-${i}`, ip: `192.0.2.${i % 7}` }));
    for (let i = 0; i < 5000; i++) log.record(report({ consumerKey: 'key-1', ip: `10.${i >> 8}.${i & 255}.1` }));
    expect(log.dropped).toBe(4990 + 5000 - (FAILURE_LOG_DEFAULTS.perFlush - 1));
    await log.flush();
    expect(await rows()).toBeLessThanOrEqual(FAILURE_LOG_DEFAULTS.perFlush);
  });

  it('failures of one consumer and of another stay in their own lists, and go with the consumer', async () => {
    await clear();
    const log = new FailureLog(db.knex);
    log.record(report());
    log.record(report({ consumerKey: 'wiki', problem: 'nonce_used', clockSkew: null }));
    log.record(report({ consumerKey: 'ghost', problem: 'consumer_key_unknown', clockSkew: null }));
    await log.close();
    log.record(report()); // after close: ignored
    await log.flush();
    expect((await recentFailures(db.knex, consumerId)).map((f) => f.problem)).toEqual(['timestamp_refused']);
    expect((await recentFailures(db.knex, otherId)).map((f) => f.problem)).toEqual(['nonce_used']);
    expect((await unknownKeys(db.knex)).map((f) => f.consumerKey)).toEqual(['ghost']);
    await db.knex('consumers').where({ id: otherId }).delete();
    expect(await recentFailures(db.knex, otherId)).toEqual([]);
    expect(await rows()).toBe(2);
  });

  it('a failed write is reported, not thrown, and recording goes on', async () => {
    const errors: unknown[] = [];
    const broken = fresh.open();
    const log = new FailureLog(broken.knex, {}, (e) => errors.push(e));
    await broken.close();
    log.record(report());
    await expect(log.flush()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });

  it('cleanKey keeps printable ASCII only, at most 64 characters', () => {
    expect(cleanKey('abc')).toBe('abc');
    expect(cleanKey('a\u0000b\u00e9\u{1F600}')).toBe('a?b???');
    expect(cleanKey('x'.repeat(100))).toHaveLength(64);
  });
});
