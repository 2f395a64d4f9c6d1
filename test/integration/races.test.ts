// Races with exactly one winner, on SQLite and on PostgreSQL: many exchanges of one
// verifier, many uses of one nonce, two decisions on one request token, revocations
// racing each other and racing calls. Each round fires its requests at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, browse, CookieJar, csrfOf, form, signIn, verifierFrom } from '../helpers/browser';
import { buildSignedRequest, signedFetch } from '../helpers/sign';
import { hashToken } from '../../src/oauth1/tokens';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';
import { rowCount } from '../helpers/db';

const N = 12;
const ROUNDS = 4;

describe.each(await testDatabases())('races (%s)', (database) => {
  let s: TestServer;
  let c: { key: string; secret: string | null };

  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'alice');
    c = await seedConsumer(s, 'racer');
  });
  afterAll(() => s.stop());

  const asConsumer = () => ({ consumerKey: c.key, consumerSecret: c.secret, method: 'POST' });
  const requestToken = async () => {
    const r = await signedFetch(`${s.url}/oauth/request-token`, { ...asConsumer(), oauth: { oauth_callback: 'oob' } });
    expect(r.status, r.body).toBe(200);
    return credentialsOf(r.params, 'request token');
  };
  const exchange = (rt: { token: string; secret: string }, verifier: string) =>
    signedFetch(`${s.url}/oauth/access-token`, {
      ...asConsumer(),
      token: rt.token,
      tokenSecret: rt.secret,
      oauth: { oauth_verifier: verifier },
    });
  const accessToken = async () => {
    const rt = await requestToken();
    const verifier = await verifierFrom(await approve(s.url, rt.token, 'alice'));
    const r = await exchange(rt, verifier);
    expect(r.status, r.body).toBe(200);
    const at = credentialsOf(r.params, 'access token');
    const grant = must(
      await s.services.db
        .knex('access_tokens')
        .where({ token_hash: hashToken(at.token) })
        .first<{ id: number } | undefined>(),
      'the access token row',
    );
    return { ...at, id: grant.id };
  };
  const myself = (at: { token: string; secret: string }) =>
    signedFetch(`${s.url}/rest/api/1/myself`, {
      consumerKey: c.key,
      consumerSecret: c.secret,
      token: at.token,
      tokenSecret: at.secret,
    });

  it(`${N} concurrent exchanges of one verifier: one access token`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const rt = await requestToken();
      const verifier = await verifierFrom(await approve(s.url, rt.token, 'alice'));
      const before = await countAccessTokens();
      const answers = await Promise.all(Array.from({ length: N }, () => exchange(rt, verifier)));
      const won = answers.filter((a) => a.status === 200);
      expect(won).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status).toBe(401);
        expect(a.params.oauth_problem).toBe('token_rejected');
      }
      expect((await countAccessTokens()) - before).toBe(1);
      // and the one issued works
      const at = credentialsOf(must(won[0], 'the exchange that answered 200').params, 'access token');
      expect((await myself(at)).status).toBe(200);
    }
  });

  it(`${N} concurrent copies of one signed call: one is served, the rest are nonce_used`, async () => {
    const at = await accessToken();
    for (let round = 0; round < ROUNDS; round++) {
      const { url, init } = buildSignedRequest(`${s.url}/rest/api/1/myself`, {
        consumerKey: c.key,
        consumerSecret: c.secret,
        token: at.token,
        tokenSecret: at.secret,
      });
      const answers = await Promise.all(Array.from({ length: N }, () => fetch(url, init)));
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((st) => st === 200)).toHaveLength(1);
      const problems = await Promise.all(
        answers
          .filter((a) => a.status !== 200)
          .map(async (a) => new URLSearchParams(await a.text()).get('oauth_problem')),
      );
      expect(problems).toEqual(Array(N - 1).fill('nonce_used'));
    }
  });

  it(`${N} concurrent copies of one signed request-token request: one request token`, async () => {
    const before = await rowCount(s.services.db, 'request_tokens');
    const { url, init } = buildSignedRequest(`${s.url}/oauth/request-token`, {
      ...asConsumer(),
      oauth: { oauth_callback: 'oob' },
    });
    const answers = await Promise.all(Array.from({ length: N }, () => fetch(url, init)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect((await rowCount(s.services.db, 'request_tokens')) - before).toBe(1);
  });

  it('allow and deny racing on one request token: exactly one decision stands', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const rt = await requestToken();
      // two signed-in tabs, each on the consent page, submitting at once
      const tabs = await Promise.all(
        [0, 1].map(async () => {
          const jar = new CookieJar();
          const authorize = `${s.url}/oauth/authorize?oauth_token=${encodeURIComponent(rt.token)}`;
          await signIn(s.url, jar, 'alice', `/oauth/authorize?oauth_token=${encodeURIComponent(rt.token)}`);
          const page = await browse(jar, authorize);
          return { jar, csrf: csrfOf(await page.text()) };
        }),
      );
      const answers = await Promise.all(
        tabs.map((t, i) =>
          browse(
            t.jar,
            `${s.url}/oauth/authorize`,
            form({ _csrf: t.csrf, oauth_token: rt.token, decision: i === 0 ? 'allow' : 'deny' }),
          ),
        ),
      );
      const ok = answers.filter((a) => a.status === 200);
      expect(ok, answers.map((a) => a.status).join(',')).toHaveLength(1);
      expect(answers.filter((a) => a.status === 400)).toHaveLength(1);
      const row = must(
        await s.services.db
          .knex('request_tokens')
          .where({ token_hash: hashToken(rt.token) })
          .first<{ authorized_at: number | null; denied_at: number | null } | undefined>(),
        'the request token row',
      );
      expect((row.authorized_at === null) !== (row.denied_at === null)).toBe(true);
    }
  });

  it('concurrent revocations of one grant: one revokes, and calls after it are token_revoked', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // The user's revoke revokes the whole application (every token of it): make this
      // grant alice's only one, so that "one grant" is the whole application.
      const alice = must(await s.services.users.findByUsername('alice'), 'user alice');
      await s.services.grants.revokeAll(OPERATOR, { userId: alice.id });
      const at = await accessToken();
      const jar = new CookieJar();
      await signIn(s.url, jar, 'alice');
      const page = await browse(jar, `${s.url}/profile/authorized-apps`);
      const csrf = csrfOf(await page.text());
      const auditsBefore = (await s.services.audits.list({ event: 'access_token.revoked', limit: 1000 })).length;

      // calls in flight while the user (twice, two tabs) and an operator revoke
      const calls = Array.from({ length: N }, () => myself(at));
      const [, ...byUser] = await Promise.all([
        s.services.grants.revoke(OPERATOR, { id: at.id }),
        ...[0, 1].map(() => browse(jar, `${s.url}/profile/authorized-apps/${at.id}/revoke`, form({ _csrf: csrf }))),
      ]);
      for (const r of byUser) expect(r.status).toBe(302);
      const auditsAfter = (await s.services.audits.list({ event: 'access_token.revoked', limit: 1000 })).length;
      // exactly one of the three revocations changed the grant, and only it was audited
      expect(auditsAfter - auditsBefore).toBe(1);

      for (const r of await Promise.all(calls)) {
        if (r.status !== 200) expect(r.params.oauth_problem).toBe('token_revoked');
      }
      for (const r of await Promise.all(Array.from({ length: N }, () => myself(at)))) {
        expect(r.status).toBe(401);
        expect(r.params.oauth_problem).toBe('token_revoked');
      }
    }
  });

  const countAccessTokens = () => rowCount(s.services.db, 'access_tokens');
});
