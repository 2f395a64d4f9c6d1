// Anonymous requests do not grow the database: a signed-out page keeps no server state
// (stateless CSRF), and repeated refusals of bad SSO assertions are sampled (so are
// braked sign-ins: test/integration/brute-force.test.ts). Two nodes on one PostgreSQL
// share one brute-force budget and one setup code.
// SSO emails are matched in one normal form that never merges two addresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { PASSWORD, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form } from '../helpers/browser';
import { createTempPgDatabase } from '../helpers/pg';
import { assertion, KeySetServer, signingKey, ssoEnv, type SigningKey } from '../helpers/sso';
import { SETUP_LIMITS, SIGN_IN_LIMITS } from '../../src/services/brakes';
import { attempt } from '../helpers/sign-in';
import { must } from '../helpers/must';
import { rowCount } from '../helpers/db';

const sizes = async (s: TestServer) => ({
  sessions: await rowCount(s.services.db, 'sessions'),
  audit: await rowCount(s.services.db, 'audit_events'),
  throttles: await rowCount(s.services.db, 'throttles'),
});

describe.each(await testDatabases())('anonymous floods on %s', (database) => {
  let s: TestServer;
  let keys: KeySetServer;
  let key: SigningKey;
  let stranger: SigningKey;
  beforeAll(async () => {
    key = await signingKey('proxy-1');
    stranger = await signingKey('proxy-1');
    keys = await KeySetServer.start([key]);
    s = await startTestServer({ database, env: ssoEnv(keys.url, { APPLINK_TRUST_PROXY: 'on' }) });
    await seedUser(s, 'kyle');
    await seedUser(s, 'alice');
  });
  afterAll(async () => {
    await s.stop();
    await keys.close();
  });

  it('60 cookie-less GET /login and GET /setup store nothing', async () => {
    const before = await sizes(s);
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${s.url}/login?next=/x${i}`);
      expect(res.status).toBe(200);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('applink.sid='))).toBe(false);
      expect((await fetch(`${s.url}/oauth/authorize?oauth_token=t${i}`, { redirect: 'manual' })).status).toBe(302);
      // no administrator yet: setup is open, and its form is signed-out too
      const setup = await fetch(`${s.url}/setup`);
      expect(setup.status).toBe(200);
      expect(await setup.text()).toContain('name="setupCode"');
      expect(setup.headers.getSetCookie().some((c) => c.startsWith('applink.sid='))).toBe(false);
    }
    expect(await sizes(s)).toEqual(before);
  });

  it('60 bad assertions add at most two audit rows per kind and address, and one counter', async () => {
    const from = '198.51.100.77';
    const before = await sizes(s);
    for (let i = 0; i < 60; i++) {
      const bad = await assertion(stranger, { email: 'alice@example.com', jti: String(i) });
      const res = await fetch(`${s.url}/profile/authorized-apps`, {
        headers: { 'cf-access-jwt-assertion': bad, 'x-forwarded-for': from },
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
    }
    const after = await sizes(s);
    expect(after.sessions).toBe(before.sessions);
    expect(after.audit - before.audit).toBeLessThanOrEqual(2);
    expect(after.throttles - before.throttles).toBeLessThanOrEqual(1);
    // sampling is deterministic: the 1st and the 10th refusal are written, counted in one row
    expect(after.audit - before.audit).toBe(2);
    expect(after.throttles - before.throttles).toBe(1);
    const refused = (await s.services.audits.list({ event: 'sso.refused', limit: 1000 })).filter((e) => e.ip === from);
    const details = refused.map(
      (e) => JSON.parse(must(e.detail, 'the detail of an sso.refused event')) as { reason: string; count: number },
    );
    expect(details.map((d) => d.count).sort((a, b) => a - b)).toEqual([1, 10]);
    const reason = must(details[0], 'an sso.refused event').reason;
    expect(details.map((d) => d.reason)).toEqual([reason, reason]);
    const counter = await s.services.db
      .knex('throttles')
      .where({ bucket: `audit:sso.refused:${reason}:${from}` })
      .first<{ hits: number | string } | undefined>('hits');
    expect(Number(must(counter, 'the sampling counter').hits)).toBe(60);
  });

  it('SSO emails: KELVIN SIGN and other look-alikes never sign in as kyle; NUL is refused, not a 500', async () => {
    const tryEmail = async (email: string) => {
      const jar = new CookieJar();
      const res = await browse(jar, `${s.url}/profile/authorized-apps`, {
        headers: { 'cf-access-jwt-assertion': await assertion(key, { email }) },
      });
      return { status: res.status, signedIn: jar.has('applink.sid'), html: res.status === 200 ? await res.text() : '' };
    };
    const ok = await tryEmail('KYLE@Example.COM'); // ASCII case: the same address
    expect(ok.status).toBe(200);
    expect(ok.html).toContain('(kyle)');
    for (const look of [
      '\u212Ayle@example.com', // KELVIN SIGN
      '\uFF4Byle@example.com', // fullwidth k
      'kyle@exampl\u0435.com', // Cyrillic e
      'ky\u200Ble@example.com', // zero-width space
      'kyle@example.com\u0000',
      'kyle\u0000@example.com',
      'kyl\u0065\u0301@example.com', // e + combining acute (not NFC)
      'kyle@EXAMPLE.\u212Aom',
      '\u017Fkyle@example.com', // long s
      ' kyle@example.com\u00a0',
      'kyle@@example.com',
    ]) {
      const r = await tryEmail(look);
      expect(r.status, JSON.stringify(look)).toBe(302);
      expect(r.signedIn, JSON.stringify(look)).toBe(false);
    }
  });
});

describe.each((await testDatabases()).filter((d) => d === 'pg'))('two nodes on one %s database', () => {
  let a: TestServer;
  let b: TestServer;
  let drop: () => Promise<void>;
  const logs: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    const pg = await createTempPgDatabase();
    drop = () => pg.drop();
    const env = {
      APPLINK_DATABASE_URL: pg.url,
      APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
      APPLINK_TRUST_PROXY: 'on',
    };
    a = await startTestServer({ env, logs });
    b = await startTestServer({ env, logs }); // its start prints the code that counts
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await drop();
  });

  it('share one setup code and one budget of wrong codes', async () => {
    const code = must(logs.filter((l) => l.setupCode).at(-1), 'a logged setup code').setupCode as string;
    const trySetup = async (node: TestServer, setupCode: string, from: string) => {
      const jar = new CookieJar();
      const headers = { 'x-forwarded-for': from };
      const page = await browse(jar, `${node.url}/setup`, { headers });
      return browse(jar, `${node.url}/setup`, {
        ...form({
          _csrf: csrfOf(await page.text()),
          setupCode,
          username: 'boss',
          email: 'boss@example.com',
          password: 'a long password',
          passwordAgain: 'a long password',
        }),
        headers: { ...form({}).headers, ...headers },
      });
    };
    const from = '203.0.113.90';
    for (let i = 0; i < SETUP_LIMITS.perAddress; i++) {
      expect((await trySetup(i % 2 ? a : b, `NOPE-NOPE-${i}`, from)).status).toBe(403);
    }
    expect((await trySetup(a, code, from)).status).toBe(429);
    expect((await trySetup(b, code, from)).status).toBe(429);
    // the operator's code survived the wrong ones, and works on the other node
    expect((await trySetup(b, code, '203.0.113.91')).status).toBe(302);
    expect((await fetch(`${a.url}/setup`)).status).toBe(404); // done, on every node
  });

  it('share one sign-in budget: failures on one node brake the pair on the other', async () => {
    await seedUser(a, 'zoe');
    const from = '203.0.113.93';
    for (let i = 0; i < SIGN_IN_LIMITS.freeFailures; i++) {
      expect((await attempt(i % 2 ? a.url : b.url, 'zoe', `guess-${i}`, from)).status).toBe(401);
    }
    expect((await attempt(a.url, 'zoe', PASSWORD, from)).status).toBe(429);
    expect((await attempt(b.url, 'zoe', PASSWORD, from)).status).toBe(429);
    // and a form from one node is accepted by the other (stateless CSRF under the shared key)
    const jar = new CookieJar();
    const page = await browse(jar, `${a.url}/login`);
    const res = await browse(
      jar,
      `${b.url}/login`,
      form({ _csrf: csrfOf(await page.text()), username: 'zoe', password: PASSWORD }),
    );
    expect(res.status).toBe(302);
  });
});
