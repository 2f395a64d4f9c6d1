// Password guessing is braked per client address and per account; a wrong verifier
// kills a request token after three tries, even when the tries come all at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { approve, browse, CookieJar, csrfOf, form, verifierFrom } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { SIGN_IN_LIMITS } from '../../src/http/web';
import { hashToken } from '../../src/oauth1/tokens';

/** One sign-in attempt from the given client address (trusted X-Forwarded-For). */
async function attempt(base: string, username: string, password: string, from: string): Promise<number> {
  const jar = new CookieJar();
  const headers = { 'x-forwarded-for': from };
  const page = await browse(jar, `${base}/login`, { headers });
  const res = await browse(jar, `${base}/login`, {
    ...form({ _csrf: csrfOf(await page.text()), username, password }),
    headers: { ...form({}).headers, ...headers },
  });
  return res.status;
}

describe('sign-in rate limits', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_TRUST_PROXY: 'on' });
    await seedUser(s, 'alice');
    await seedUser(s, 'bob');
    await seedUser(s, 'carol');
  });
  afterAll(() => s.stop());

  it(`per account: ${SIGN_IN_LIMITS.perAccount} failures from as many addresses lock the account, not others`, async () => {
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount; i++) {
      expect(await attempt(s.url, 'alice', `guess-${i}`, `198.51.100.${i + 1}`)).toBe(401);
    }
    // a fresh address, and even the right password: the account is braked
    expect(await attempt(s.url, 'alice', PASSWORD, '198.51.100.200')).toBe(429);
    // another account from that address is not
    expect(await attempt(s.url, 'bob', PASSWORD, '198.51.100.200')).toBe(302);
    const throttled = await s.services.audits.list({ event: 'login.throttled' });
    expect(throttled.map((e) => JSON.parse(e.detail!).by)).toContain('account');
  });

  it(`per address: ${SIGN_IN_LIMITS.perAddress} failures from one address lock that address, not others`, async () => {
    const from = '203.0.113.7';
    // different account names, so the per-account brake never triggers
    for (let i = 0; i < SIGN_IN_LIMITS.perAddress; i++) {
      expect(await attempt(s.url, `nobody-${i}`, 'wrong password', from)).toBe(401);
    }
    expect(await attempt(s.url, 'carol', PASSWORD, from)).toBe(429);
    expect(await attempt(s.url, 'carol', PASSWORD, '203.0.113.8')).toBe(302);
    const throttled = await s.services.audits.list({ event: 'login.throttled' });
    expect(throttled.map((e) => JSON.parse(e.detail!).by)).toContain('address');
  });

  it('successful sign-ins do not count', async () => {
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount + 2; i++) {
      expect(await attempt(s.url, 'bob', PASSWORD, '192.0.2.44')).toBe(302);
    }
  });
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
    const verifier = await verifierFrom(await approve(s.url, rt.oauth_token!, 'alice'));
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => exchange(rt, `wrong-${i}`)));
    // each is either judged (verifier_invalid) or, once three were, refused (token_rejected)
    const judged = answers.filter((a) => a.params.oauth_problem === 'verifier_invalid').length;
    expect(judged).toBeGreaterThanOrEqual(3);
    for (const a of answers) expect(['verifier_invalid', 'token_rejected']).toContain(a.params.oauth_problem);
    const right = await exchange(rt, verifier);
    expect(right.status).toBe(401);
    expect(right.params.oauth_problem).toBe('token_rejected');
    const row = await s.services.db
      .knex('request_tokens')
      .where({ token_hash: hashToken(rt.oauth_token!) })
      .first();
    expect(row.verifier_failures).toBeGreaterThanOrEqual(3);
    expect(row.used_at).toBeNull();
    expect(await s.services.db.knex('access_tokens').count({ n: '*' }).first()).toMatchObject({ n: 0 });
    const audits = await s.services.audits.list({ event: 'verifier.rejected' });
    expect(audits).toHaveLength(judged);
  });
});
