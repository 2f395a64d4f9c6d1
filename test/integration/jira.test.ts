// applink as the provider of a Jira/Confluence "Generic Application" link, played exactly
// as Atlassian's consumer behaves (issue 15): HMAC-SHA1 with every parameter in the form
// body for the token steps, the login-dance callback with its encoded redirectUrl, the
// browser sent to the Atlassian authorize path with oauth_callback repeated, API calls
// with the Authorization header, exchange anyway after a deny, exchange before the user
// decided, renewal with the session handle; every refusal read from WWW-Authenticate only
// (the body is ignored, as Jira ignores it). On SQLite and PostgreSQL.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { signedFetch, type SignOptions } from '../helpers/sign';
import { parseProblemHeader } from '../helpers/problem-header';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

const JIRA = 'https://jira.example';
const DANCE = `${JIRA}/plugins/servlet/applinks/oauth/login-dance/access`;

describe.each(await testDatabases())('Jira as the consumer on %s', (database) => {
  let s: TestServer;
  let jira: { key: string; secret: string | null };

  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'alice');
    // what the admin registers (the link helper shows it): the login-dance servlet
    jira = await seedConsumer(s, 'jira-applink', { callbackUrl: DANCE });
  });
  afterAll(() => s.stop());

  const endpoint = (p: string) => `${s.url}/plugins/servlet/oauth/${p}`;
  const signing = (): SignOptions => ({
    consumerKey: jira.key,
    consumerSecret: jira.secret,
    method: 'POST',
    signatureMethod: 'HMAC-SHA1',
  });

  /** What Jira does with a refusal: read the header, ignore the body. */
  function refusal(r: { status: number; headers: Headers }): Record<string, string> {
    const challenge = parseProblemHeader(r.headers.get('www-authenticate'));
    expect(challenge.realm).toBe(s.url);
    return { ...challenge, status: String(r.status) };
  }

  function loginDanceCallback() {
    const linkId = randomUUID();
    const redirectUrl = `${JIRA}/secure/Dashboard.jspa?selectPageId=10000&x=a b&y=ü`;
    return {
      linkId,
      redirectUrl,
      callback: `${DANCE}?applicationLinkID=${linkId}&redirectUrl=${encodeURIComponent(redirectUrl)}`,
    };
  }

  async function requestToken(callback: string) {
    const r = await signedFetch(endpoint('request-token'), {
      ...signing(),
      place: 'body',
      oauth: { oauth_callback: callback },
    });
    expect(r.status, r.body).toBe(200);
    expect(r.params.oauth_callback_confirmed).toBe('true');
    return credentialsOf(r.params, 'request token');
  }

  /** The user's browser: Jira's authorize URL, sign-in, the consent page, a decision. */
  async function decide(token: string, callback: string, decision: 'allow' | 'deny') {
    const jar = new CookieJar();
    const authorize = `${endpoint('authorize')}?oauth_token=${encodeURIComponent(token)}&oauth_callback=${encodeURIComponent(callback)}`;
    const first = await browse(jar, authorize);
    expect(first.status).toBe(302);
    const next = must(
      new URL(must(first.headers.get('location'), 'the redirect to sign-in'), s.url).searchParams.get('next'),
      'next in the redirect to sign-in',
    );
    const login = await signIn(s.url, jar, 'alice', next);
    expect(login.status).toBe(302);
    const back = new URL(must(login.headers.get('location'), 'the redirect after sign-in'), s.url);
    expect(back.pathname).toBe('/plugins/servlet/oauth/authorize');
    const consent = await browse(jar, back.toString());
    const html = await consent.text();
    expect(consent.status, html).toBe(200);
    expect(html).toContain('jira-applink app');
    return browse(jar, endpoint('authorize'), form({ _csrf: csrfOf(html), oauth_token: token, decision }));
  }

  const exchange = (rt: { token: string; secret: string }, verifier: string) =>
    signedFetch(endpoint('access-token'), {
      ...signing(),
      place: 'body',
      token: rt.token,
      tokenSecret: rt.secret,
      oauth: { oauth_verifier: verifier },
    });

  const api = (at: { token: string; secret: string }, extra: Partial<SignOptions> = {}) =>
    signedFetch(`${s.url}/rest/api/1/myself`, {
      consumerKey: jira.key,
      consumerSecret: jira.secret,
      token: at.token,
      tokenSecret: at.secret,
      place: 'header',
      ...extra,
    });

  it('links a user: request token, authorize, login-dance callback, access token, API calls, renewal', async () => {
    const { callback, linkId, redirectUrl } = loginDanceCallback();
    const rt = await requestToken(callback);

    // exchange before the user decided: permission_unknown, and it costs no verifier try
    const early = refusal(await exchange(rt, 'not-yet'));
    expect(early).toMatchObject({ status: '401', oauth_problem: 'permission_unknown' });
    expect(early.oauth_problem_advice).toBeTruthy();

    const allowed = await decide(rt.token, callback, 'allow');
    expect(allowed.status).toBe(302);
    const back = new URL(must(allowed.headers.get('location'), 'the callback redirect'));
    expect(`${back.origin}${back.pathname}`).toBe(DANCE);
    // Jira's own parameters come back exactly, with the token and verifier added
    expect(back.searchParams.get('applicationLinkID')).toBe(linkId);
    expect(back.searchParams.get('redirectUrl')).toBe(redirectUrl);
    expect(back.searchParams.get('oauth_token')).toBe(rt.token);
    const verifier = must(back.searchParams.get('oauth_verifier'), 'the verifier in the callback');
    expect(verifier).toMatch(/^[0-9a-f]{20}$/);

    const at = await exchange(rt, verifier);
    expect(at.status, at.body).toBe(200);
    expect(Number(at.params.oauth_expires_in)).toBeGreaterThan(157_680_000 - 60);
    expect(Number(at.params.oauth_authorization_expires_in)).toBeGreaterThan(157_680_000 + 30 * 86_400 - 60);
    const token = credentialsOf(at.params, 'access token');
    const me = await api(token);
    expect(me.status, me.body).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ username: 'alice' });

    // the request token is spent: token_rejected (Jira forgets it and offers "Authenticate")
    expect(refusal(await exchange(rt, verifier))).toMatchObject({ status: '401', oauth_problem: 'token_rejected' });

    // renewal, as Atlassian's consumer would post it: form body, current token, handle
    const renewed = await signedFetch(endpoint('access-token'), {
      ...signing(),
      place: 'body',
      token: token.token,
      tokenSecret: token.secret,
      oauth: { oauth_session_handle: must(at.params.oauth_session_handle, 'the session handle') },
    });
    expect(renewed.status, renewed.body).toBe(200);
    expect(renewed.params.oauth_session_handle).toBe(at.params.oauth_session_handle);
    const fresh = credentialsOf(renewed.params, 'renewed access token');
    expect((await api(fresh)).status).toBe(200);
    expect(refusal(await api(token))).toMatchObject({ status: '401', oauth_problem: 'token_rejected' });
    // one grant for the user, the same one
    expect(await s.services.db.knex('access_tokens').whereNull('revoked_at').select('id')).toHaveLength(1);
  });

  it('deny, then exchange anyway: permission_denied from the header', async () => {
    const { callback } = loginDanceCallback();
    const rt = await requestToken(callback);
    const denied = await decide(rt.token, callback, 'deny');
    expect(denied.status).toBe(302);
    const back = new URL(must(denied.headers.get('location'), 'the callback redirect'));
    expect(back.searchParams.get('oauth_verifier')).toBe('denied');
    expect(back.searchParams.get('oauth_problem')).toBe('permission_denied');
    const r = refusal(
      await exchange(rt, must(back.searchParams.get('oauth_verifier'), 'the verifier in the callback')),
    );
    expect(r).toMatchObject({ status: '401', oauth_problem: 'permission_denied' });
    expect(r.oauth_problem_advice).toBe('The user denied access.');
  });

  it('every refusal Jira shows carries its details in the header', async () => {
    const { callback } = loginDanceCallback();
    // clock skew: the acceptable range
    const skewed = refusal(
      await signedFetch(endpoint('request-token'), {
        ...signing(),
        place: 'body',
        oauth: { oauth_callback: callback, oauth_timestamp: String(Math.floor(Date.now() / 1000) - 3600) },
      }),
    );
    expect(skewed).toMatchObject({ status: '401', oauth_problem: 'timestamp_refused' });
    expect(skewed.oauth_acceptable_timestamps).toMatch(/^\d+-\d+$/);

    // signed for the URL Jira believes in (behind a proxy), reached at another: the base string
    const proxied = await signedFetch(endpoint('request-token'), {
      ...signing(),
      place: 'body',
      signedUrl: 'https://links.example.com/plugins/servlet/oauth/request-token',
      oauth: { oauth_callback: callback },
    });
    const bad = refusal(proxied);
    expect(bad).toMatchObject({ status: '401', oauth_problem: 'signature_invalid' });
    expect(bad.oauth_signature_base_string).toBe(proxied.params.oauth_signature_base_string);
    expect(bad.oauth_signature_base_string).toContain(
      encodeURIComponent(`${s.url}/plugins/servlet/oauth/request-token`),
    );

    // a callback outside the registered one
    const outside = refusal(
      await signedFetch(endpoint('request-token'), {
        ...signing(),
        place: 'body',
        oauth: { oauth_callback: `${DANCE}/..%2f..%2fevil` },
      }),
    );
    expect(outside).toMatchObject({
      status: '400',
      oauth_problem: 'parameter_rejected',
      oauth_parameters_rejected: 'oauth_callback',
    });

    // missing parameters, listed
    const absent = refusal(
      await signedFetch(endpoint('request-token'), { ...signing(), place: 'body', oauth: { oauth_callback: null } }),
    );
    expect(absent).toMatchObject({
      status: '400',
      oauth_problem: 'parameter_absent',
      oauth_parameters_absent: 'oauth_callback',
    });

    // a version Jira never sends, but the header says which one is accepted
    const version = refusal(
      await signedFetch(endpoint('request-token'), {
        ...signing(),
        place: 'body',
        oauth: { oauth_callback: callback, oauth_version: '2.0' },
      }),
    );
    expect(version).toMatchObject({ oauth_problem: 'version_rejected', oauth_acceptable_versions: '1.0' });

    // a stale consumer key (the link was deleted on this side)
    const stale = refusal(
      await signedFetch(endpoint('request-token'), {
        ...signing(),
        consumerKey: 'jira-old-link',
        place: 'body',
        oauth: { oauth_callback: callback },
      }),
    );
    expect(stale).toMatchObject({ status: '401', oauth_problem: 'consumer_key_unknown' });
  });
});
