// Every step of the flow checks the user's and the consumer's CURRENT state (issue 12),
// over HTTP on SQLite and PostgreSQL: a state changed between two steps is seen by the
// next one, and a refused step creates nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, browse, CookieJar, csrfOf, form, signIn, verifierFrom } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { parseProblemHeader } from '../helpers/problem-header';
import { must } from '../helpers/must';
import { credentialsOf } from '../helpers/credentials';

describe.each(await testDatabases())('current user and consumer state at every step on %s', (database) => {
  let s: TestServer;
  let n = 0;

  beforeAll(async () => {
    s = await startTestServer({ database });
  });
  afterAll(() => s.stop());

  const knex = () => s.services.db.knex;
  const setUser = (username: string, disabled: boolean) =>
    knex()('users')
      .where({ username })
      .update({ disabled_at: disabled ? Date.now() : null });
  const setConsumer = (key: string, disabled: boolean) =>
    knex()('consumers')
      .where({ consumer_key: key })
      .update({ disabled_at: disabled ? Date.now() : null });
  const grants = async (key: string) =>
    (await knex()('access_tokens as t').join('consumers as c', 'c.id', 't.consumer_id').where('c.consumer_key', key))
      .length;
  const issued = async (key: string) =>
    (
      await knex()('audit_events as a')
        .join('consumers as c', 'c.id', 'a.consumer_id')
        .where({ 'c.consumer_key': key, 'a.event': 'access_token.issued' })
    ).length;

  async function fixture() {
    n++;
    const user = `user${n}`;
    await seedUser(s, user);
    const c = await seedConsumer(s, `app${n}`);
    const sign = { consumerKey: c.key, consumerSecret: c.secret, method: 'POST' as const };
    const requestToken = async () => {
      const r = await signedFetch(`${s.url}/oauth/request-token`, { ...sign, oauth: { oauth_callback: 'oob' } });
      return {
        status: r.status,
        problem: r.params.oauth_problem,
        ...credentialsOf(r.params, 'request token'),
      };
    };
    const exchange = (rt: { token: string; secret: string }, verifier: string) =>
      signedFetch(`${s.url}/oauth/access-token`, {
        ...sign,
        token: rt.token,
        tokenSecret: rt.secret,
        oauth: { oauth_verifier: verifier },
      });
    const myself = (at: { token: string; secret: string }) =>
      signedFetch(`${s.url}/rest/api/1/myself`, { ...sign, method: 'GET', token: at.token, tokenSecret: at.secret });
    return { user, c, requestToken, exchange, myself };
  }

  const problem = (r: { status: number; headers: Headers }) =>
    `${r.status} ${parseProblemHeader(r.headers.get('www-authenticate')).oauth_problem ?? 'no oauth_problem'}`;

  it('approve, user disabled, exchange: permission_denied, nothing created, not even after re-enabling', async () => {
    const f = await fixture();
    const rt = await f.requestToken();
    const verifier = await verifierFrom(await approve(s.url, rt.token, f.user));
    await setUser(f.user, true);
    expect(problem(await f.exchange(rt, verifier))).toBe('401 permission_denied');
    expect(await grants(f.c.key)).toBe(0);
    await setUser(f.user, false);
    expect(problem(await f.exchange(rt, verifier))).toBe('401 permission_denied');
    expect(await grants(f.c.key)).toBe(0);
    expect(await issued(f.c.key)).toBe(0);
  });

  it('approve, consumer disabled, exchange: consumer_key_rejected, nothing created', async () => {
    const f = await fixture();
    const rt = await f.requestToken();
    const verifier = await verifierFrom(await approve(s.url, rt.token, f.user));
    await setConsumer(f.c.key, true);
    expect(problem(await f.exchange(rt, verifier))).toBe('401 consumer_key_rejected');
    expect(await grants(f.c.key)).toBe(0);
  });

  it('consent page shown, consumer disabled, then the user allows: refused, nothing decided', async () => {
    const f = await fixture();
    const rt = await f.requestToken();
    const jar = new CookieJar();
    await signIn(s.url, jar, f.user);
    const page = await browse(jar, `${s.url}/oauth/authorize?oauth_token=${rt.token}`);
    const html = await page.text();
    expect(page.status).toBe(200);
    await setConsumer(f.c.key, true);
    const decided = await browse(
      jar,
      `${s.url}/oauth/authorize`,
      form({ _csrf: csrfOf(html), oauth_token: rt.token, decision: 'allow' }),
    );
    expect(decided.status).toBe(400);
    expect(await decided.text()).toContain('disabled');
    const row = (await knex()('request_tokens')
      .where({ consumer_id: knex()('consumers').where({ consumer_key: f.c.key }).select('id') })
      .first()) as Record<string, unknown> | undefined;
    expect(row).toMatchObject({ user_id: null, verifier_hash: null, denied_at: null });
  });

  it('request token for a disabled consumer: consumer_key_rejected, nothing created', async () => {
    const f = await fixture();
    await setConsumer(f.c.key, true);
    const r = await signedFetch(`${s.url}/oauth/request-token`, {
      consumerKey: f.c.key,
      consumerSecret: f.c.secret,
      method: 'POST',
      oauth: { oauth_callback: 'oob' },
    });
    expect(problem(r)).toBe('401 consumer_key_rejected');
    expect(
      await knex()('request_tokens').whereIn(
        'consumer_id',
        knex()('consumers').where({ consumer_key: f.c.key }).select('id'),
      ),
    ).toEqual([]);
  });

  it('API call and renewal: refused while the user or the consumer is disabled, working again after', async () => {
    const f = await fixture();
    const rt = await f.requestToken();
    const verifier = await verifierFrom(await approve(s.url, rt.token, f.user));
    const at = await f.exchange(rt, verifier);
    expect(at.status).toBe(200);
    const token = credentialsOf(at.params, 'access token');
    const handle = must(at.params.oauth_session_handle, 'the session handle');
    const renew = () =>
      signedFetch(`${s.url}/oauth/access-token`, {
        consumerKey: f.c.key,
        consumerSecret: f.c.secret,
        method: 'POST',
        token: token.token,
        tokenSecret: token.secret,
        oauth: { oauth_session_handle: handle },
      });
    await setUser(f.user, true);
    expect(problem(await f.myself(token))).toBe('401 permission_denied');
    expect(problem(await renew())).toBe('401 permission_denied');
    await setUser(f.user, false);
    await setConsumer(f.c.key, true);
    expect(problem(await f.myself(token))).toBe('401 consumer_key_rejected');
    expect(problem(await renew())).toBe('401 consumer_key_rejected');
    await setConsumer(f.c.key, false);
    expect((await f.myself(token)).status).toBe(200);
    expect(await knex()('audit_events').where({ event: 'access_token.renewed' })).toEqual([]);
  });

  it('a user disabled while exchanges race: every exchange is refused or none is', async () => {
    for (let round = 0; round < 3; round++) {
      const f = await fixture();
      const rt = await f.requestToken();
      const verifier = await verifierFrom(await approve(s.url, rt.token, f.user));
      const [, ...results] = await Promise.all([
        setUser(f.user, true),
        ...Array.from({ length: 4 }, () => f.exchange(rt, verifier)),
      ]);
      const ok = results.filter((r) => r.status === 200);
      const count = await grants(f.c.key);
      // at most one grant, and only if an exchange answered 200 (it then preceded the disable)
      expect(count).toBe(ok.length);
      expect(count).toBeLessThanOrEqual(1);
      for (const r of results.filter((x) => x.status !== 200)) {
        expect(['401 permission_denied', '401 token_rejected']).toContain(problem(r));
      }
      if (count === 1) {
        const granted = must(ok[0], 'the exchange that answered 200').params;
        const token = credentialsOf(granted, 'access token');
        expect(problem(await f.myself(token))).toBe('401 permission_denied');
      }
    }
  });
});
