// Every problem code of SPEC "Errors": status, WWW-Authenticate and the form body with its
// extra parameters; plus replays, token kinds, wrong consumers, verifiers and denial.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { rsaKeys, seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, browse, CookieJar, form, signIn, verifierFrom } from '../helpers/browser';
import { hashToken } from '../../src/oauth1/tokens';
import { buildSignedRequest, signedFetch, type SignOptions } from '../helpers/sign';
import { parseProblemHeader } from '../helpers/problem-header';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

describe.each(await testDatabases())('problems on %s', (database) => {
  let s: TestServer;
  let hmac: { key: string; secret: string | null };
  let other: { key: string; secret: string | null };

  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'alice');
    await seedUser(s, 'bob');
    hmac = await seedConsumer(s, 'hmac');
    other = await seedConsumer(s, 'other');
    await seedConsumer(s, 'rsa-only', { rsa: true, secret: false });
    await seedConsumer(s, 'registered', { callbackUrl: 'https://wiki.example.com/app/cb' });
  });
  afterAll(() => s.stop());

  const url = (p: string) => `${s.url}${p}`;
  const consumerOpts = (c = hmac): SignOptions => ({ consumerKey: c.key, consumerSecret: c.secret, method: 'POST' });

  function expectProblem(
    r: { status: number; params: Record<string, string>; headers: Headers },
    status: number,
    code: string,
  ) {
    expect(r.status, JSON.stringify(r.params)).toBe(status);
    expect(r.params.oauth_problem).toBe(code);
    expect(r.params.oauth_problem_advice).toBeTruthy();
    // The header carries exactly the body's problem parameters (Atlassian reads only it).
    expect(parseProblemHeader(r.headers.get('www-authenticate'))).toEqual({ realm: s.url, ...r.params });
    expect(r.headers.get('www-authenticate')).toMatch(new RegExp(`^OAuth realm="[^"]+", oauth_problem="${code}", `));
    expect(r.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
  }

  async function requestToken(c = hmac, callback = 'oob') {
    const r = await signedFetch(url('/oauth/request-token'), {
      ...consumerOpts(c),
      oauth: { oauth_callback: callback },
    });
    expect(r.status, r.body).toBe(200);
    return credentialsOf(r.params, 'request token');
  }

  async function authorized(c = hmac, user = 'alice') {
    const rt = await requestToken(c);
    const verifier = await verifierFrom(await approve(s.url, rt.token, user));
    return { ...rt, verifier };
  }

  async function exchange(rt: { token: string; secret: string }, verifier: string, c = hmac) {
    return signedFetch(url('/oauth/access-token'), {
      ...consumerOpts(c),
      token: rt.token,
      tokenSecret: rt.secret,
      oauth: { oauth_verifier: verifier },
    });
  }

  async function accessToken(c = hmac, user = 'alice') {
    const rt = await authorized(c, user);
    const r = await exchange(rt, rt.verifier, c);
    expect(r.status, r.body).toBe(200);
    return { ...credentialsOf(r.params, 'access token'), request: rt };
  }

  const myself = (at: { token: string; secret: string }, extra: Partial<SignOptions> = {}, c = hmac) =>
    signedFetch(url('/rest/api/1/myself'), {
      consumerKey: c.key,
      consumerSecret: c.secret,
      token: at.token,
      tokenSecret: at.secret,
      ...extra,
    });

  describe('400 problems', () => {
    it('parameter_absent lists what is missing', async () => {
      const r = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_nonce: null, oauth_timestamp: null },
      });
      expectProblem(r, 400, 'parameter_absent');
      expect(r.params.oauth_parameters_absent).toBe('oauth_timestamp&oauth_nonce');
    });

    it('parameter_absent for a request token without oauth_callback', async () => {
      const r = await signedFetch(url('/oauth/request-token'), consumerOpts());
      expectProblem(r, 400, 'parameter_absent');
      expect(r.params.oauth_parameters_absent).toBe('oauth_callback');
    });

    it('parameter_absent for an API call without a token', async () => {
      const r = await signedFetch(url('/rest/api/1/myself'), { consumerKey: hmac.key, consumerSecret: hmac.secret });
      expectProblem(r, 400, 'parameter_absent');
      expect(r.params.oauth_parameters_absent).toBe('oauth_token');
    });

    it('parameter_rejected: the same oauth_ parameter twice', async () => {
      const r = buildSignedRequest(url('/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_callback: 'oob' },
      });
      const headers = r.init.headers as Record<string, string>;
      headers.authorization = `${must(headers.authorization, 'the Authorization header')}, oauth_nonce="again"`;
      const res = await fetch(r.url, r.init);
      const params = Object.fromEntries(new URLSearchParams(await res.text()));
      expectProblem({ status: res.status, params, headers: res.headers }, 400, 'parameter_rejected');
      expect(params.oauth_parameters_rejected).toBe('oauth_nonce');
    });

    it('parameter_rejected: oauth_ parameters split between header and query', async () => {
      const r = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_callback: 'oob' },
        query: [['oauth_extra', 'x']],
      });
      expectProblem(r, 400, 'parameter_rejected');
    });

    it('parameter_rejected: a callback outside the registered one', async () => {
      const c = {
        key: 'registered',
        secret: must((await s.services.store.findCredentials('registered', null, null)).consumer, 'consumer registered')
          .secret,
      };
      for (const bad of [
        'https://evil.example.com/app/cb',
        'http://wiki.example.com/app/cb',
        'https://wiki.example.com/other',
        'https://wiki.example.com:8443/app/cb',
        'javascript:alert(1)',
      ]) {
        const r = await signedFetch(url('/oauth/request-token'), {
          ...consumerOpts(c),
          oauth: { oauth_callback: bad },
        });
        expectProblem(r, 400, 'parameter_rejected');
        expect(r.params.oauth_parameters_rejected).toBe('oauth_callback');
      }
      const ok = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(c),
        oauth: { oauth_callback: 'https://wiki.example.com/app/cb/deeper?x=1' },
      });
      expect(ok.status).toBe(200);
    });

    it('parameter_rejected: a callback that is not an absolute http(s) URL', async () => {
      const r = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_callback: '/relative' },
      });
      expectProblem(r, 400, 'parameter_rejected');
    });

    it('signature_method_rejected: unknown method, PLAINTEXT over http, RSA without a key', async () => {
      const unknown = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        signatureMethod: 'MD5-ROT13',
        oauth: { oauth_callback: 'oob' },
      });
      expectProblem(unknown, 400, 'signature_method_rejected');
      const plain = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        signatureMethod: 'PLAINTEXT',
        oauth: { oauth_callback: 'oob' },
      });
      expectProblem(plain, 400, 'signature_method_rejected');
      const rsa = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        signatureMethod: 'RSA-SHA1',
        privateKey: rsaKeys.privateKey,
        oauth: { oauth_callback: 'oob' },
      });
      expectProblem(rsa, 400, 'signature_method_rejected');
      const hmacForRsaOnly = await signedFetch(url('/oauth/request-token'), {
        consumerKey: 'rsa-only',
        consumerSecret: '',
        method: 'POST',
        oauth: { oauth_callback: 'oob' },
      });
      expectProblem(hmacForRsaOnly, 400, 'signature_method_rejected');
    });

    it('version_rejected names the acceptable version', async () => {
      const r = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_callback: 'oob', oauth_version: '2.0' },
      });
      expectProblem(r, 400, 'version_rejected');
      expect(r.params.oauth_acceptable_versions).toBe('1.0');
    });
  });

  describe('401 problems', () => {
    it('consumer_key_unknown', async () => {
      const r = await signedFetch(url('/oauth/request-token'), {
        consumerKey: 'nobody',
        consumerSecret: 'x',
        method: 'POST',
        oauth: { oauth_callback: 'oob' },
      });
      expectProblem(r, 401, 'consumer_key_unknown');
    });

    it('consumer_key_rejected for a disabled consumer, with its tokens', async () => {
      const c = await seedConsumer(s, 'to-disable');
      const at = await accessToken(c);
      const id = must(await s.services.consumers.findByKey('to-disable'), 'consumer to-disable').id;
      await s.services.consumers.setDisabled(OPERATOR, { id: id }, true);
      expectProblem(
        await signedFetch(url('/oauth/request-token'), { ...consumerOpts(c), oauth: { oauth_callback: 'oob' } }),
        401,
        'consumer_key_rejected',
      );
      expectProblem(await myself(at, {}, c), 401, 'consumer_key_rejected');
    });

    it('signature_invalid returns the server base string', async () => {
      const r = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        consumerSecret: 'wrong',
        oauth: { oauth_callback: 'oob' },
      });
      expectProblem(r, 401, 'signature_invalid');
      expect(r.params.oauth_signature_base_string).toBe(r.baseString);
    });

    it('signature_invalid when a signed query parameter is changed in transit', async () => {
      const at = await accessToken();
      const req = buildSignedRequest(url('/rest/api/1/myself'), {
        consumerKey: hmac.key,
        consumerSecret: hmac.secret,
        token: at.token,
        tokenSecret: at.secret,
        query: [['a', '1']],
      });
      const res = await fetch(req.url.replace('a=1', 'a=2'), req.init);
      expect(res.status).toBe(401);
      expect(new URLSearchParams(await res.text()).get('oauth_problem')).toBe('signature_invalid');
    });

    it('timestamp_refused gives the acceptable range', async () => {
      const old = Math.floor(Date.now() / 1000) - 3600;
      const r = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_callback: 'oob', oauth_timestamp: String(old) },
      });
      expectProblem(r, 401, 'timestamp_refused');
      const [min, max] = must(r.params.oauth_acceptable_timestamps, 'oauth_acceptable_timestamps')
        .split('-')
        .map(Number);
      const now = Math.floor(Date.now() / 1000);
      expect(min).toBeGreaterThanOrEqual(now - 302);
      expect(max).toBeLessThanOrEqual(now + 302);
      expect(must(max, 'the upper bound') - must(min, 'the lower bound')).toBe(600);
    });

    it('nonce_used on a replayed request', async () => {
      const at = await accessToken();
      const req = buildSignedRequest(url('/rest/api/1/myself'), {
        consumerKey: hmac.key,
        consumerSecret: hmac.secret,
        token: at.token,
        tokenSecret: at.secret,
      });
      expect((await fetch(req.url, req.init)).status).toBe(200);
      const again = await fetch(req.url, req.init);
      expectProblem(
        {
          status: again.status,
          params: Object.fromEntries(new URLSearchParams(await again.text())),
          headers: again.headers,
        },
        401,
        'nonce_used',
      );
    });

    it("token_rejected: unknown token, request token as access token and the reverse, another consumer's token", async () => {
      const at = await accessToken();
      expectProblem(await myself({ token: 'not-a-token', secret: 'x' }), 401, 'token_rejected');
      const rt = await authorized();
      expectProblem(await myself({ token: rt.token, secret: rt.secret }), 401, 'token_rejected');
      expectProblem(await exchange({ token: at.token, secret: at.secret }, 'whatever'), 401, 'token_rejected');
      expectProblem(await myself(at, {}, other), 401, 'token_rejected');
      const rt2 = await authorized();
      expectProblem(await exchange(rt2, rt2.verifier, other), 401, 'token_rejected');
    });

    it('token_rejected for a used request token (a reused verifier)', async () => {
      const rt = await authorized();
      expect((await exchange(rt, rt.verifier)).status).toBe(200);
      expectProblem(await exchange(rt, rt.verifier), 401, 'token_rejected');
    });

    it('token_expired for an expired request token, at exchange and on the consent page', async () => {
      const rt = await authorized();
      await s.services.db.knex('request_tokens').update({ expires_at: Date.now() - 1000 });
      expectProblem(await exchange(rt, rt.verifier), 401, 'token_expired');
      const fresh = await requestToken();
      await s.services.db.knex('request_tokens').update({ expires_at: Date.now() - 1000 });
      const jar = new CookieJar();
      await signIn(s.url, jar, 'alice');
      const page = await browse(jar, url(`/oauth/authorize?oauth_token=${fresh.token}`));
      expect(page.status).toBe(400);
      expect(await page.text()).toContain('expired');
    });

    it('token_expired for an expired access token', async () => {
      const at = await accessToken();
      await s.services.db.knex('access_tokens').update({ expires_at: Date.now() - 1000 });
      expectProblem(await myself(at), 401, 'token_expired');
      await s.services.db.knex('access_tokens').update({ expires_at: null });
    });

    it('token_revoked for a revoked access token', async () => {
      const at = await accessToken();
      expect((await myself(at)).status).toBe(200);
      const grant = must((await s.services.grants.list({ username: 'alice' })).at(-1), "alice's newest grant");
      expect(await s.services.grants.revoke(OPERATOR, { id: grant.id })).not.toBeNull();
      expectProblem(await myself(at), 401, 'token_revoked');
    });

    it('verifier_invalid, and three wrong verifiers kill the request token', async () => {
      const rt = await authorized();
      for (let i = 0; i < 3; i++) expectProblem(await exchange(rt, `wrong-${i}`), 401, 'verifier_invalid');
      expectProblem(await exchange(rt, rt.verifier), 401, 'token_rejected');
      const row = await s.services.db
        .knex('request_tokens')
        .where({ token_hash: hashToken(rt.token) })
        .first<Record<string, unknown> | undefined>();
      expect(row).toMatchObject({ verifier_failures: 3, used_at: null });
    });

    it('permission_unknown before the user decided, not counted as a wrong verifier', async () => {
      const rt = await requestToken();
      for (let i = 0; i < 5; i++) expectProblem(await exchange(rt, `guess-${i}`), 401, 'permission_unknown');
      expectProblem(await exchange(rt, ''), 401, 'permission_unknown');
      const row = await s.services.db
        .knex('request_tokens')
        .where({ token_hash: hashToken(rt.token) })
        .first<Record<string, unknown> | undefined>();
      expect(row).toMatchObject({ verifier_failures: 0, used_at: null });
      // the user decides afterwards, and the exchange then works
      const verifier = await verifierFrom(await approve(s.url, rt.token, 'alice'));
      expect((await exchange(rt, verifier)).status).toBe(200);
    });

    it('permission_denied for a disabled user, whose consent page cannot be reached', async () => {
      await seedUser(s, 'carol');
      const at = await accessToken(hmac, 'carol');
      expect((await myself(at)).status).toBe(200);
      const jar = new CookieJar();
      await signIn(s.url, jar, 'carol');
      await s.services.users.setDisabled(OPERATOR, { username: 'carol' }, true);
      expectProblem(await myself(at), 401, 'permission_denied');
      const rt = await requestToken();
      const page = await browse(jar, url(`/oauth/authorize?oauth_token=${rt.token}`));
      expect(page.status).toBe(302);
      expect(page.headers.get('location')).toMatch(/^\/login\?next=/);
      const login = await signIn(s.url, new CookieJar(), 'carol');
      expect(login.status).toBe(401);
    });
  });

  describe('deny flow', () => {
    it('redirects to the callback with oauth_verifier=denied and oauth_problem=permission_denied, and the token is dead', async () => {
      const rt = await requestToken(hmac, 'https://consumer.example/cb');
      const res = await approve(s.url, rt.token, 'alice', 'deny');
      expect(res.status).toBe(302);
      const loc = new URL(must(res.headers.get('location'), 'the callback redirect'));
      expect(loc.origin + loc.pathname).toBe('https://consumer.example/cb');
      expect(loc.searchParams.get('oauth_token')).toBe(rt.token);
      expect(loc.searchParams.get('oauth_verifier')).toBe('denied');
      expect(loc.searchParams.get('oauth_problem')).toBe('permission_denied');
      expectProblem(await exchange(rt, 'denied'), 401, 'permission_denied');
      const jar = new CookieJar();
      await signIn(s.url, jar, 'alice');
      expect((await browse(jar, url(`/oauth/authorize?oauth_token=${rt.token}`))).status).toBe(400);
    });

    it('shows a page for oob', async () => {
      const rt = await requestToken();
      const res = await approve(s.url, rt.token, 'alice', 'deny');
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('was not allowed');
    });

    it('refuses a decision without a CSRF token', async () => {
      const rt = await requestToken();
      const jar = new CookieJar();
      await signIn(s.url, jar, 'alice');
      const res = await browse(jar, url('/oauth/authorize'), form({ oauth_token: rt.token, decision: 'allow' }));
      expect(res.status).toBe(403);
      const row = await s.services.db
        .knex('request_tokens')
        .where({ token_hash: hashToken(rt.token) })
        .first<Record<string, unknown> | undefined>();
      expect(row).toMatchObject({ user_id: null, authorized_at: null, verifier_hash: null, denied_at: null });
    });
  });

  describe('endpoints', () => {
    it('serves the protocol at the Atlassian paths too', async () => {
      const r = await signedFetch(url('/plugins/servlet/oauth/request-token'), {
        ...consumerOpts(),
        oauth: { oauth_callback: 'oob' },
      });
      expect(r.status).toBe(200);
      expect(r.params.oauth_callback_confirmed).toBe('true');
      const jar = new CookieJar();
      const page = await browse(
        jar,
        url(`/plugins/servlet/oauth/authorize?oauth_token=${must(r.params.oauth_token, 'the request token')}`),
      );
      expect(page.status).toBe(302);
    });

    it('accepts GET for request-token and parameters in the query or the body', async () => {
      const get = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        method: 'GET',
        place: 'query',
        oauth: { oauth_callback: 'oob' },
      });
      expect(get.status, get.body).toBe(200);
      const body = await signedFetch(url('/oauth/request-token'), {
        ...consumerOpts(),
        place: 'body',
        oauth: { oauth_callback: 'oob' },
      });
      expect(body.status, body.body).toBe(200);
    });

    it('healthz and readyz', async () => {
      expect(await (await fetch(url('/healthz'))).json()).toEqual({ status: 'ok' });
      expect((await fetch(url('/readyz'))).status).toBe(200);
    });

    it('never answers 500 to garbage', async () => {
      const cases: Array<[string, RequestInit]> = [
        ['/oauth/request-token', { method: 'POST', headers: { authorization: 'OAuth oauth_consumer_key="%ZZ"' } }],
        ['/oauth/request-token', { method: 'POST', headers: { authorization: 'OAuth ,,,=' } }],
        [
          '/oauth/access-token',
          {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'oauth_token=%E0%A4%A',
          },
        ],
        ['/rest/api/1/myself?oauth_token=%FF', { method: 'GET' }],
        [
          '/rest/api/1/myself',
          {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: Buffer.from([0xff, 0xfe, 0x3d]),
          },
        ],
        ['/oauth/authorize?oauth_token[]=x', { method: 'GET' }],
      ];
      for (const [path, init] of cases) {
        const res = await fetch(url(path), { ...init, redirect: 'manual' });
        expect(res.status, path).toBeGreaterThanOrEqual(300);
        expect(res.status, path).toBeLessThan(500);
      }
    });
  });
});
