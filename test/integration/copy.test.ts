// Moving an SQLite installation to PostgreSQL with `applink db copy`: an installation
// populated through the real server (dances with two clients, a revoked grant, a pending
// authorization, a signed-in browser) is copied, a server is started on the copy with the
// same master key, and every grant, session and pending request token still works.
import { afterAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { join } from 'node:path';
import { createTempPgDatabase } from '../helpers/pg';
import { rsaKeys, seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, browse, CookieJar, signIn, verifierFrom } from '../helpers/browser';
import { oauth1aClient, type Client, type Method } from '../helpers/clients';
import { runCli } from '../helpers/cli';
import { must } from '../helpers/must';
import { rowCount } from '../helpers/db';

const onPg = (await testDatabases()).filter((d) => d === 'pg');

interface Grant {
  user: string;
  consumer: string;
  method: Method;
  secret: string | null;
  token: string;
  tokenSecret: string;
}

describe.each(onPg)('applink db copy: SQLite to %s', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const clientFor = (base: string, g: Pick<Grant, 'consumer' | 'method' | 'secret'>): Client =>
    oauth1aClient({ base, key: g.consumer, secret: g.secret, privateKey: rsaKeys.privateKey, method: g.method });

  async function dance(server: TestServer, g: Omit<Grant, 'token' | 'tokenSecret'>): Promise<Grant> {
    const client = clientFor(server.url, g);
    const rt = await client.requestToken('oob');
    const at = await client.accessToken(
      rt.token,
      rt.secret,
      await verifierFrom(await approve(server.url, rt.token, g.user)),
    );
    return { ...g, token: at.token, tokenSecret: at.secret };
  }

  const myself = (base: string, g: Grant) =>
    clientFor(base, g).get(`${base}/rest/api/1/myself`, {}, g.token, g.tokenSecret);

  it('copies every row with its id; every grant, session and pending authorization works on PostgreSQL', async () => {
    // --- an SQLite installation, populated through the server
    const sqlite = await startTestServer();
    cleanups.push(() => sqlite.stop());
    await seedUser(sqlite, 'alice', { admin: true });
    await seedUser(sqlite, 'bob');
    const hmac = await seedConsumer(sqlite, 'wiki');
    await seedConsumer(sqlite, 'tracker', { rsa: true, secret: false });
    const grants = [
      await dance(sqlite, { user: 'alice', consumer: 'wiki', method: 'HMAC-SHA1', secret: hmac.secret }),
      await dance(sqlite, { user: 'alice', consumer: 'tracker', method: 'RSA-SHA1', secret: null }),
      await dance(sqlite, { user: 'bob', consumer: 'wiki', method: 'HMAC-SHA1', secret: hmac.secret }),
    ];
    const revoked = await dance(sqlite, { user: 'bob', consumer: 'tracker', method: 'RSA-SHA1', secret: null });
    const revokedId = must(
      (await sqlite.services.grants.list({ username: 'bob', consumerKey: 'tracker' }))[0],
      "bob's tracker grant",
    ).id;
    expect(await sqlite.services.grants.revoke(OPERATOR, { id: revokedId })).not.toBeNull();
    for (const g of grants) expect((await myself(sqlite.url, g)).status).toBe(200);
    // an authorization still pending (request token issued, not yet approved)
    const pendingClient = clientFor(sqlite.url, { consumer: 'wiki', method: 'HMAC-SHA1', secret: hmac.secret });
    const pending = await pendingClient.requestToken('oob');
    // a signed-in browser
    const jar = new CookieJar();
    expect((await signIn(sqlite.url, jar, 'alice')).status).toBe(302);
    const before = await sqlite.services.grants.list({ includeRevoked: true });
    const counts: Record<string, number> = {};
    for (const t of ['users', 'consumers', 'access_tokens', 'request_tokens', 'sessions', 'audit_events', 'nonces'])
      counts[t] = await rowCount(sqlite.services.db, t);
    await sqlite.close(); // the SQLite server stops before the copy

    // --- the copy
    const pg = await createTempPgDatabase();
    cleanups.push(() => pg.drop());
    const from = `sqlite:${join(sqlite.dir, 'applink.sqlite')}`;
    const copy = await runCli(['db', 'copy', '--from', from, '--to', pg.url, '--json']);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    const copied = Object.fromEntries(
      (JSON.parse(copy.stdout) as { copied: Array<{ table: string; rows: number }> }).copied.map((c) => [
        c.table,
        c.rows,
      ]),
    );
    expect(copied).toMatchObject(counts);
    expect(counts).toMatchObject({ users: 2, consumers: 2, access_tokens: 4, request_tokens: 5 });
    expect(counts.sessions).toBeGreaterThan(0);
    expect(counts.nonces).toBeGreaterThan(0);

    // a second copy into the now non-empty database is refused, and changes nothing
    const again = await runCli(['db', 'copy', '--from', from, '--to', pg.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not empty/);

    // --- a server on the copy, same master key
    const onPgServer = await startTestServer({
      env: { APPLINK_DATABASE_URL: pg.url, APPLINK_SECRET_KEY: must(sqlite.env.APPLINK_SECRET_KEY, 'the master key') },
    });
    cleanups.push(() => onPgServer.stop());
    expect(await onPgServer.services.grants.list({ includeRevoked: true })).toEqual(before);
    for (const g of grants) {
      const r = await myself(onPgServer.url, g);
      expect(r.status, r.body).toBe(200);
      expect((JSON.parse(r.body) as { username: string }).username).toBe(g.user);
    }
    const dead = await myself(onPgServer.url, revoked);
    expect(dead.status).toBe(401);
    expect(dead.body).toMatch(/oauth_problem=token_revoked/);

    // the browser is still signed in: its session moved too
    const page = await browse(jar, `${onPgServer.url}/profile/authorized-apps`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('tracker app');

    // the pending authorization completes on PostgreSQL
    const pgPending = clientFor(onPgServer.url, { consumer: 'wiki', method: 'HMAC-SHA1', secret: hmac.secret });
    const verifier = await verifierFrom(await approve(onPgServer.url, pending.token, 'bob'));
    const at = await pgPending.accessToken(pending.token, pending.secret, verifier);
    const fresh = await myself(onPgServer.url, {
      user: 'bob',
      consumer: 'wiki',
      method: 'HMAC-SHA1',
      secret: hmac.secret,
      token: at.token,
      tokenSecret: at.secret,
    });
    expect(fresh.status).toBe(200);

    // sequences continue after the copied ids: new rows get new ids
    const after = await onPgServer.services.grants.list({ includeRevoked: true });
    expect(after.at(-1)?.id).toBe(Math.max(...before.map((g) => g.id)) + 1);
    const carol = await seedUser(onPgServer, 'carol');
    expect(carol.id).toBe(3);
  });
});

// Runs without a PostgreSQL server too.
describe('applink db copy: what it refuses', () => {
  it('refuses anything but SQLite to PostgreSQL, and a missing source', async () => {
    // refused before either database is opened: the target need not exist
    const pg = { url: 'postgres://nobody@127.0.0.1:1/none' };
    const wrongWay = await runCli(['db', 'copy', '--from', pg.url, '--to', pg.url]);
    expect([wrongWay.code, wrongWay.stderr]).toEqual([1, 'applink: --from must be an SQLite database (sqlite:PATH)\n']);
    const missing = await runCli(['db', 'copy', '--from', 'sqlite:/nonexistent/x.sqlite', '--to', pg.url]);
    expect([missing.code, missing.stderr]).toEqual([1, 'applink: no SQLite database at /nonexistent/x.sqlite\n']);
    const bad = await runCli(['db', 'copy', '--from', 'sqlite:/x', '--to', 'mysql://x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--to: must be sqlite:PATH or postgres:/);
  });
});
