// The batched hot path (src/db/hot-path.ts, batch.ts) on a real SQLite file and a real
// PostgreSQL database: calls made in the same event-loop round share one transaction or
// round trip, and still each get their own, correct answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDatabase, type Database } from '../../src/db';
import { createHotPath, type HotPath } from '../../src/db/hot-path';
import { MAX_BATCH } from '../../src/db/batch';
import { createTempPgDatabase, pgAvailable } from '../helpers/pg';
import { must } from '../helpers/must';

const pgUp = await pgAvailable();

interface Fixture {
  db: Database;
  hot: HotPath;
  consumerId: number;
  userId: number;
  tokenId: number;
  tokenHash: string;
  done(): Promise<void>;
}

async function fixture(kind: 'sqlite' | 'pg'): Promise<Fixture> {
  let db: Database;
  let cleanup: () => Promise<void>;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'applink-hot-'));
    db = openDatabase({ client: 'sqlite', filename: join(dir, 'hot.sqlite') });
    cleanup = () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    };
  } else {
    const pg = await createTempPgDatabase();
    db = openDatabase({ client: 'pg', connectionString: pg.url });
    cleanup = () => pg.drop();
  }
  await db.migrate();
  const [u] = await db
    .knex('users')
    .insert({ username: 'u', email: 'u@example.com', display_name: 'U', created_at: 1 })
    .returning<Array<{ id: number }>>('id');
  const [c] = await db
    .knex('consumers')
    .insert({ consumer_key: 'c', name: 'C', secret_enc: 'sealed', created_at: 1 })
    .returning<Array<{ id: number }>>('id');
  const userId = must(u, 'the inserted user').id;
  const consumerId = must(c, 'the inserted consumer').id;
  const tokenHash = 'ab'.repeat(32);
  const [t] = await db
    .knex('access_tokens')
    .insert({ token_hash: tokenHash, consumer_id: consumerId, user_id: userId, secret_enc: 'sealed', created_at: 1 })
    .returning<Array<{ id: number }>>('id');
  return {
    db,
    hot: createHotPath(db),
    consumerId,
    userId,
    tokenId: must(t, 'the inserted access token').id,
    tokenHash,
    done: async () => {
      await db.close();
      await cleanup();
    },
  };
}

const kinds: Array<'sqlite' | 'pg'> = ['sqlite', 'pg'];

describe.each(kinds)('hot path on %s', (kind) => {
  let f: Fixture;
  const ts = Math.floor(Date.now() / 1000);
  const claim = (nonce: string, consumerId = f.consumerId) => ({
    consumerId,
    tokenRef: `a${f.tokenId}`,
    timestamp: ts,
    nonce,
  });

  beforeAll(async () => {
    if (kind === 'pg' && !pgUp) return;
    f = await fixture(kind);
  });
  // unset without PostgreSQL, or when beforeAll failed
  afterAll(async () => (f as Fixture | undefined)?.done());

  it.runIf(kind === 'sqlite' || pgUp)('answers each lookup of a round with its own row, in order', async () => {
    const answers = await Promise.all([
      f.hot.lookup('c', f.tokenHash, 'access'),
      f.hot.lookup('nobody', f.tokenHash, 'access'),
      f.hot.lookup('c', 'cd'.repeat(32), 'access'),
      f.hot.lookup('c', null, null),
      f.hot.lookup('c', f.tokenHash, 'request'),
    ]);
    expect(answers[0]).toMatchObject({ c_key: 'c', t_id: f.tokenId, u_username: 'u' });
    expect(answers[1]).toBeUndefined();
    expect(answers[2]).toMatchObject({ c_key: 'c', t_id: null });
    expect(answers[3]).toMatchObject({ c_key: 'c', t_id: null });
    expect(answers[4]).toMatchObject({ c_key: 'c', t_id: null }); // an access token is no request token
  });

  it.runIf(kind === 'sqlite' || pgUp)(
    'claims a round of distinct nonces, and a duplicate in the round loses',
    async () => {
      const nonces = Array.from({ length: 20 }, () => randomBytes(8).toString('hex'));
      const fourth = must(nonces[3], 'the fourth nonce');
      const results = await Promise.all([
        ...nonces.map((n) => f.hot.claimNonce(claim(n), null)),
        f.hot.claimNonce(claim(fourth), null),
        f.hot.claimNonce(claim(fourth), null),
      ]);
      expect(results.slice(0, 20)).toEqual(Array(20).fill(true));
      expect(results.slice(20)).toEqual([false, false]);
      // and in a later round, every one of them is still taken
      const again = await Promise.all(nonces.map((n) => f.hot.claimNonce(claim(n), null)));
      expect(again).toEqual(Array(20).fill(false));
      const count = await f.db.knex('nonces').whereIn('nonce', nonces).count({ n: '*' });
      expect(Number(must(count[0], 'the count').n)).toBe(20);
    },
  );

  it.runIf(kind === 'sqlite' || pgUp)('splits a round larger than the batch limit and answers all of it', async () => {
    const nonces = Array.from({ length: MAX_BATCH * 2 + 7 }, (_, i) => `big-${i}`);
    const results = await Promise.all(nonces.map((n) => f.hot.claimNonce(claim(n), null)));
    expect(results.every((r) => r)).toBe(true);
  });

  it.runIf(kind === 'sqlite' || pgUp)('touches last_used and audits once, only for a claim that won', async () => {
    const at = Date.now();
    const before = await f.db.knex('audit_events').where({ event: 'token.used' }).count({ n: '*' });
    const touch = { accessTokenId: f.tokenId, at, ip: '192.0.2.7' };
    const taken = randomBytes(8).toString('hex');
    expect(await f.hot.claimNonce(claim(taken), null)).toBe(true);
    const [lost, won] = await Promise.all([
      f.hot.claimNonce(claim(taken), { ...touch, at: at - 1000 }),
      f.hot.claimNonce(claim(randomBytes(8).toString('hex')), touch),
    ]);
    expect([lost, won]).toEqual([false, true]);
    const row = must(
      await f.db
        .knex('access_tokens')
        .where({ id: f.tokenId })
        .first<{ last_used_at: number | string | null; last_used_ip: string | null } | undefined>(),
      'the access token',
    );
    expect(Number(row.last_used_at)).toBe(at);
    expect(row.last_used_ip).toBe('192.0.2.7');
    const after = await f.db.knex('audit_events').where({ event: 'token.used' }).count({ n: '*' });
    expect(Number(must(after[0], 'the count after').n) - Number(must(before[0], 'the count before').n)).toBe(1);
  });

  it.runIf(kind === 'sqlite' || pgUp)('keeps nonces apart by consumer, token and timestamp', async () => {
    const n = randomBytes(8).toString('hex');
    const results = await Promise.all([
      f.hot.claimNonce(claim(n), null),
      f.hot.claimNonce({ ...claim(n), tokenRef: '' }, null),
      f.hot.claimNonce({ ...claim(n), timestamp: ts + 1 }, null),
      f.hot.claimNonce(claim(n, f.consumerId + 1000), null),
    ]);
    expect(results).toEqual([true, true, true, true]);
  });

  it.runIf(kind === 'sqlite' || pgUp)(
    'writes display names with their audit entries, in arrival order, both or neither',
    async () => {
      const userId = must(await f.db.knex('users').first<{ id: number } | undefined>('id'), 'a user').id;
      const audit = (name: string) => ({
        event: 'user.updated',
        actorUserId: userId,
        consumerId: f.consumerId,
        tokenId: f.tokenId,
        ip: '192.0.2.1',
        detail: { field: 'displayName', name } as Record<string, unknown>,
      });
      const count = async () =>
        Number(
          ((await f.db.knex('audit_events').where({ event: 'user.updated' }).count({ n: '*' })) as [{ n: string }])[0]
            .n,
        );
      const nameNow = async () =>
        ((await f.db.knex('users').where({ id: userId }).first()) as { display_name: string }).display_name;
      const before = await count();
      // one round: every write answers its own row (SQLite applies them in arrival order;
      // on PostgreSQL they run on several connections, like any concurrent writes)
      const rows = await Promise.all(['A', 'B', 'C'].map((n) => f.hot.setDisplayName(userId, n, audit(n), Date.now())));
      expect(rows.map((r) => r?.display_name)).toEqual(['A', 'B', 'C']);
      expect(rows[0]).toMatchObject({ id: userId, username: 'u', email: 'u@example.com' });
      if (kind === 'sqlite') expect(await nameNow()).toBe('C');
      await f.hot.setDisplayName(userId, 'C', audit('C'), Date.now());
      expect(await nameNow()).toBe('C');
      const written = await f.db
        .knex('audit_events')
        .where({ event: 'user.updated' })
        .orderBy('id')
        .select<Array<{ detail: string; ip: string; token_id: number }>>('detail', 'ip', 'token_id');
      const names = written.slice(before).map((w) => (JSON.parse(w.detail) as { name: string }).name);
      expect([...names].sort()).toEqual(['A', 'B', 'C', 'C']);
      expect(written.at(-1)).toMatchObject({ ip: '192.0.2.1', token_id: f.tokenId });
      // no such user: no row, no audit entry
      expect(await f.hot.setDisplayName(userId + 999, 'X', audit('X'), Date.now())).toBeUndefined();
      expect(await count()).toBe(before + 4);
      // an audit entry that cannot be written takes the change back with it
      const bad = { ...audit('D'), detail: { n: 1n } };
      await expect(f.hot.setDisplayName(userId, 'D', bad, Date.now())).rejects.toThrow();
      expect(await nameNow()).toBe('C');
      expect(await count()).toBe(before + 4);
    },
  );
});

describe.runIf(pgUp)('hot path on pg: the claim commit', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture('pg');
  });
  // unset when beforeAll failed
  afterAll(async () => (f as Fixture | undefined)?.done());

  it('commits the claim synchronously and leaves every connection so', async () => {
    const c = { consumerId: f.consumerId, tokenRef: '', timestamp: Math.floor(Date.now() / 1000), nonce: 'n1' };
    expect(await f.hot.claimNonce(c, null)).toBe(true);
    // every idle connection of the pool, the one the claim just ran on among them, is back to 'on'
    const client = f.db.knex.client as {
      pool: { numFree(): number };
      acquireConnection(): Promise<{ query(q: string): Promise<{ rows: Array<{ v: string }> }> }>;
      releaseConnection(c: unknown): Promise<void>;
    };
    const idle = client.pool.numFree();
    expect(idle).toBeGreaterThan(0);
    const conns = await Promise.all(Array.from({ length: idle }, () => client.acquireConnection()));
    try {
      for (const c of conns)
        expect(
          must((await c.query("SELECT current_setting('synchronous_commit') AS v")).rows[0], 'the setting').v,
        ).toBe('on');
    } finally {
      for (const c of conns) await client.releaseConnection(c);
    }
  });

  it('runs rounds concurrently without deadlocking, even touching the same tokens in opposite orders', async () => {
    const [t2] = await f.db
      .knex('access_tokens')
      .insert({
        token_hash: 'ef'.repeat(32),
        consumer_id: f.consumerId,
        user_id: f.userId,
        secret_enc: 'sealed',
        created_at: 1,
      })
      .returning<Array<{ id: number }>>('id');
    const ids = [f.tokenId, must(t2, 'the second access token').id];
    const ts = Math.floor(Date.now() / 1000);
    let n = 0;
    const one = (tokenId: number) =>
      f.hot.claimNonce(
        { consumerId: f.consumerId, tokenRef: `a${tokenId}`, timestamp: ts, nonce: `dl-${n++}` },
        { accessTokenId: tokenId, at: Date.now(), ip: '192.0.2.9' },
      );
    const rounds: Array<Promise<boolean[]>> = [];
    for (let r = 0; r < 40; r++) {
      const order = r % 2 === 0 ? ids : [...ids].reverse();
      rounds.push(Promise.all([...order, ...order, ...order].map(one)));
      await new Promise((done) => setImmediate(done)); // the next round starts while this one is in flight
    }
    const results = await Promise.all(rounds);
    expect(results.flat().every((won) => won)).toBe(true);
    const stamped = await f.db.knex('access_tokens').whereIn('id', ids).whereNotNull('last_used_at').count({ n: '*' });
    expect(Number(must(stamped[0], 'the count').n)).toBe(2);
  });
});
