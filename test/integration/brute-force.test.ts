// Password guessing is braked per account-and-address pair (progressive delay) and per
// address (generous); only real attempts count, so nobody can lock a victim out; braked
// attempts are sampled into the audit log. A wrong verifier kills a request token after
// three tries, even when the tries come all at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, browse, CookieJar, csrfOf, form, verifierFrom } from '../helpers/browser';
import { attempt } from '../helpers/sign-in';
import { signedFetch } from '../helpers/sign';
import { pairDelayMs, SIGN_IN_LIMITS } from '../../src/services/brakes';
import { hashToken } from '../../src/oauth1/tokens';
import { must } from '../helpers/must';
import { rowCount } from '../helpers/db';

describe.each(await testDatabases())('sign-in brakes on %s', (database) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ database, env: { APPLINK_TRUST_PROXY: 'on' } });
    for (const u of ['alice', 'bob', 'carol', 'dave']) await seedUser(s, u);
  });
  afterAll(() => s.stop());

  it('bare posts (no CSRF token, no session) and posts without a password count for nothing', async () => {
    for (let i = 0; i < 30; i++) {
      const bare = await fetch(`${s.url}/login`, {
        ...form({ username: 'alice', password: `guess-${i}` }),
        headers: { ...form({}).headers, 'x-forwarded-for': '198.51.100.9' },
        redirect: 'manual',
      });
      expect(bare.status).toBe(403);
    }
    for (let i = 0; i < 30; i++) {
      const jar = new CookieJar();
      const page = await browse(jar, `${s.url}/login`);
      const res = await browse(jar, `${s.url}/login`, form({ _csrf: csrfOf(await page.text()), username: 'alice' }));
      expect(res.status).toBe(400);
    }
    expect(await rowCount(s.services.db, 'throttles')).toBe(0);
    expect((await attempt(s.url, 'alice', PASSWORD, '198.51.100.9')).status).toBe(302);
  });

  it(`a pair: ${SIGN_IN_LIMITS.freeFailures} free failures, then doubling delays; the victim elsewhere is not locked out`, async () => {
    const attacker = '203.0.113.50';
    for (let i = 0; i < SIGN_IN_LIMITS.freeFailures; i++) {
      expect((await attempt(s.url, 'bob', `guess-${i}`, attacker)).status).toBe(401);
    }
    const braked = await attempt(s.url, 'bob', PASSWORD, attacker); // even the right password
    expect(braked.status).toBe(429);
    expect(Number(braked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await braked.text()).toContain('Too many sign-in attempts');
    // case does not make a new pair
    expect((await attempt(s.url, 'BOB', 'guess', attacker)).status).toBe(429);
    // the victim, from their own address, signs in at once
    expect((await attempt(s.url, 'bob', PASSWORD, '192.0.2.10')).status).toBe(302);
    // the attacker's address may still try other accounts
    expect((await attempt(s.url, 'carol', 'guess', attacker)).status).toBe(401);
    // after the first delay one more try is judged; the next waits twice as long
    await new Promise((r) => setTimeout(r, pairDelayMs(SIGN_IN_LIMITS.freeFailures) + 100));
    expect((await attempt(s.url, 'bob', 'guess-late', attacker)).status).toBe(401);
    const longer = await attempt(s.url, 'bob', 'guess-later', attacker);
    expect(longer.status).toBe(429);
    expect(Number(longer.headers.get('retry-after'))).toBeGreaterThanOrEqual(2);
  });

  it('a right password clears its pair', async () => {
    const from = '203.0.113.60';
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < SIGN_IN_LIMITS.freeFailures - 1; i++) {
        expect((await attempt(s.url, 'dave', `guess-${i}`, from)).status).toBe(401);
      }
      expect((await attempt(s.url, 'dave', PASSWORD, from)).status).toBe(302);
    }
  });

  // 60 braked attempts, exactly: the 1st and 10th braked ones are sampled into the audit
  // log, each judged one (a try the doubling delay let through) writes its login.failed,
  // and nothing else is written: no session, one new counter (the sampling's).
  it('a flood of braked attempts adds a handful of audit rows and one counter', async () => {
    const from = '203.0.113.70';
    for (let i = 0; i < SIGN_IN_LIMITS.freeFailures; i++) await attempt(s.url, 'carol', `x-${i}`, from);
    const throttledRows = async () => (await s.services.audits.list({ event: 'login.throttled', limit: 1000 })).length;
    const before = await throttledRows();
    const counters = await rowCount(s.services.db, 'throttles');
    const auditRows = await rowCount(s.services.db, 'audit_events');
    const sessions = await rowCount(s.services.db, 'sessions');
    const flood = 60;
    let braked = 0;
    for (let i = 0; i < flood; i++) {
      // judged again only each time the (doubling) delay has passed
      const status = (await attempt(s.url, 'carol', `y-${i}`, from)).status;
      expect([401, 429]).toContain(status);
      if (status === 429) braked++;
    }
    expect(braked).toBeGreaterThanOrEqual(50);
    expect(await rowCount(s.services.db, 'sessions')).toBe(sessions);
    expect((await throttledRows()) - before).toBe(2); // the 1st and the 10th
    // the sampled throttles (1st, 10th) and the few judged failures the doubling delays let through
    expect((await rowCount(s.services.db, 'audit_events')) - auditRows).toBe(2 + (flood - braked));
    expect(await rowCount(s.services.db, 'throttles')).toBe(counters + 1); // its sampling counter
    const sampled = await s.services.audits.list({ event: 'login.throttled' });
    expect(
      sampled.map(
        (e) => (JSON.parse(must(e.detail, 'the detail of a login.throttled event')) as { count: number }).count,
      ),
    ).toContain(10);
  });
});

describe('the per-address brake', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_TRUST_PROXY: 'on' });
    await seedUser(s, 'erin');
  });
  afterAll(() => s.stop());

  it(`${SIGN_IN_LIMITS.perAddress} failures over many accounts stop that address only`, async () => {
    const from = '203.0.113.80';
    for (let i = 0; i < SIGN_IN_LIMITS.perAddress; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) => attempt(s.url, `nobody-${i + j}`, 'wrong password', from)),
      );
      expect(batch.map((r) => r.status)).toEqual(Array(10).fill(401));
    }
    const stopped = await attempt(s.url, 'erin', PASSWORD, from);
    expect(stopped.status).toBe(429);
    expect((await attempt(s.url, 'erin', PASSWORD, '203.0.113.81')).status).toBe(302);
    const [throttled] = await s.services.audits.list({ event: 'login.throttled', limit: 1 });
    expect(JSON.parse(must(must(throttled, 'a login.throttled event').detail, 'its detail'))).toMatchObject({
      by: 'address',
      count: 1,
    });
  }, 120_000);
});

describe('verifier guessing', () => {
  let s: TestServer;
  let c: { key: string; secret: string | null };
  beforeAll(async () => {
    s = await startTestServer();
    await seedUser(s, 'alice');
    c = await seedConsumer(s, 'guess');
  });
  afterAll(() => s.stop());

  const exchange = (rt: Record<string, string>, verifier: string) =>
    signedFetch(`${s.url}/oauth/access-token`, {
      consumerKey: c.key,
      consumerSecret: c.secret,
      method: 'POST',
      token: rt.oauth_token,
      tokenSecret: rt.oauth_token_secret,
      oauth: { oauth_verifier: verifier },
    });

  it('ten wrong verifiers at once kill the request token; the right one then fails', async () => {
    const rt = (
      await signedFetch(`${s.url}/oauth/request-token`, {
        consumerKey: c.key,
        consumerSecret: c.secret,
        method: 'POST',
        oauth: { oauth_callback: 'oob' },
      })
    ).params;
    const token = must(rt.oauth_token, 'the request token');
    const verifier = await verifierFrom(await approve(s.url, token, 'alice'));
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => exchange(rt, `wrong-${i}`)));
    // each is either judged (verifier_invalid) or, once three were, refused (token_rejected)
    const judged = answers.filter((a) => a.params.oauth_problem === 'verifier_invalid').length;
    expect(judged).toBeGreaterThanOrEqual(3);
    for (const a of answers) expect(['verifier_invalid', 'token_rejected']).toContain(a.params.oauth_problem);
    const right = await exchange(rt, verifier);
    expect(right.status).toBe(401);
    expect(right.params.oauth_problem).toBe('token_rejected');
    const row = must(
      (await s.services.db
        .knex('request_tokens')
        .where({ token_hash: hashToken(token) })
        .first()) as { verifier_failures: number; used_at: number | null } | undefined,
      'the request token row',
    );
    expect(row.verifier_failures).toBeGreaterThanOrEqual(3);
    expect(row.used_at).toBeNull();
    expect(await rowCount(s.services.db, 'access_tokens')).toBe(0);
    const audits = await s.services.audits.list({ event: 'verifier.rejected' });
    expect(audits).toHaveLength(judged);
  });
});
