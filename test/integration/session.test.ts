// OAuth Session extension over HTTP, on SQLite and PostgreSQL: the access-token answer's
// session fields, renewal with the current token and the session handle (new token and
// secret, same grant, old token dead at once), every refusal with its problem, and two
// renewals at once: exactly one wins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, verifierFrom } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { parseProblemHeader } from '../helpers/problem-header';
import { hashToken } from '../../src/oauth1/tokens';
import { loadConfig } from '../../src/config';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

const TOKEN_TTL = 3600;
const AUTH_TTL = 7200;

describe.each(await testDatabases())('OAuth Session extension on %s', (database) => {
  let s: TestServer;
  let c: { key: string; secret: string | null };

  beforeAll(async () => {
    s = await startTestServer({
      database,
      env: { APPLINK_ACCESS_TOKEN_TTL: String(TOKEN_TTL), APPLINK_AUTHORIZATION_TTL: String(AUTH_TTL) },
    });
    await seedUser(s, 'alice');
    c = await seedConsumer(s, 'jira');
  });
  afterAll(() => s.stop());

  const url = (p: string) => `${s.url}${p}`;
  const knex = () => s.services.db.knex;
  const sign = (cons = c) => ({ consumerKey: cons.key, consumerSecret: cons.secret, method: 'POST' as const });

  interface Access {
    token: string;
    secret: string;
    handle: string;
    params: Record<string, string>;
  }

  async function dance(user = 'alice', cons = c): Promise<Access> {
    const rt = await signedFetch(url('/oauth/request-token'), { ...sign(cons), oauth: { oauth_callback: 'oob' } });
    expect(rt.status, rt.body).toBe(200);
    const requestToken = credentialsOf(rt.params, 'request token');
    const verifier = await verifierFrom(await approve(s.url, requestToken.token, user));
    const at = await signedFetch(url('/oauth/access-token'), {
      ...sign(cons),
      token: requestToken.token,
      tokenSecret: requestToken.secret,
      oauth: { oauth_verifier: verifier },
    });
    expect(at.status, at.body).toBe(200);
    return {
      ...credentialsOf(at.params, 'access token'),
      handle: must(at.params.oauth_session_handle, 'the session handle'),
      params: at.params,
    };
  }

  const renew = (a: { token: string; secret: string }, handle: string, cons = c, place?: 'header' | 'body') =>
    signedFetch(url('/plugins/servlet/oauth/access-token'), {
      ...sign(cons),
      token: a.token,
      tokenSecret: a.secret,
      oauth: { oauth_session_handle: handle },
      ...(place && { place }),
    });

  const myself = (a: { token: string; secret: string }, cons = c) =>
    signedFetch(url('/rest/api/1/myself'), {
      consumerKey: cons.key,
      consumerSecret: cons.secret,
      token: a.token,
      tokenSecret: a.secret,
    });

  /** The grant (access_tokens row) that holds `token` now; fails if none does. */
  const grantOf = async (token: string) =>
    must(
      (await knex()('access_tokens')
        .where({ token_hash: hashToken(token) })
        .first()) as
        { id: number; session_handle_hash: string; authorization_expires_at: number; expires_at: number } | undefined,
      'the grant of the token',
    );

  function expectRefused(r: Awaited<ReturnType<typeof signedFetch>>, status: number, code: string) {
    expect(r.status, r.body).toBe(status);
    // what an Atlassian consumer reads: the header alone
    expect(parseProblemHeader(r.headers.get('www-authenticate')).oauth_problem).toBe(code);
    expect(r.params.oauth_problem).toBe(code);
  }

  it('the exchange answers the session fields; the handle is stored hashed', async () => {
    const a = await dance();
    expect(Object.keys(a.params)).toEqual([
      'oauth_token',
      'oauth_token_secret',
      'oauth_expires_in',
      'oauth_session_handle',
      'oauth_authorization_expires_in',
    ]);
    expect(Number(a.params.oauth_expires_in)).toBeGreaterThan(TOKEN_TTL - 5);
    expect(Number(a.params.oauth_expires_in)).toBeLessThanOrEqual(TOKEN_TTL);
    expect(Number(a.params.oauth_authorization_expires_in)).toBeGreaterThan(AUTH_TTL - 5);
    expect(Number(a.params.oauth_authorization_expires_in)).toBeLessThanOrEqual(AUTH_TTL);
    expect(a.handle).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const g = await grantOf(a.token);
    expect(g.session_handle_hash).toBe(hashToken(a.handle));
    const everything = JSON.stringify(await knex()('access_tokens').select());
    expect(everything).not.toContain(a.handle);
  });

  it('renews: new token and secret, same grant, old token dead at once, audited, one grant for the user', async () => {
    const a = await dance();
    const before = await grantOf(a.token);
    const r = await renew(a, a.handle);
    expect(r.status, r.body).toBe(200);
    const b = credentialsOf(r.params, 'renewed access token');
    expect(b.token).not.toBe(a.token);
    expect(b.secret).not.toBe(a.secret);
    expect(r.params.oauth_session_handle).toBe(a.handle);
    expect(Number(r.params.oauth_expires_in)).toBeGreaterThan(TOKEN_TTL - 5);
    // the authorization does not restart with a renewal
    expect(Number(r.params.oauth_authorization_expires_in)).toBeLessThanOrEqual(
      Number(a.params.oauth_authorization_expires_in),
    );

    expect((await myself(b)).status).toBe(200);
    expectRefused(await myself(a), 401, 'token_rejected');
    expectRefused(await renew(a, a.handle), 401, 'token_rejected');
    const after = await grantOf(b.token);
    expect(after.id).toBe(before.id);
    expect(after.authorization_expires_at).toBe(before.authorization_expires_at);
    const grants = await knex()('access_tokens').where({ id: before.id });
    expect(grants).toHaveLength(1);
    const audit = await knex()('audit_events').where({ event: 'access_token.renewed', token_id: before.id });
    expect(audit).toHaveLength(1);

    // and again, with the parameters in the form body as Jira sends them
    const r2 = await renew(b, a.handle, c, 'body');
    expect(r2.status, r2.body).toBe(200);
    expect((await myself(credentialsOf(r2.params, 'renewed access token'))).status).toBe(200);
  });

  it('renews an expired token, but never past the authorization', async () => {
    const a = await dance();
    const g = await grantOf(a.token);
    await knex()('access_tokens')
      .where({ id: g.id })
      .update({ expires_at: Date.now() - 1000 });
    expectRefused(await myself(a), 401, 'token_expired');
    // the authorization ends in 10 minutes: the new token ends with it, not in an hour
    await knex()('access_tokens')
      .where({ id: g.id })
      .update({ authorization_expires_at: Date.now() + 600_000 });
    const r = await renew(a, a.handle);
    expect(r.status, r.body).toBe(200);
    expect(Number(r.params.oauth_expires_in)).toBeLessThanOrEqual(600);
    expect(Number(r.params.oauth_expires_in)).toBeGreaterThan(590);
    expect(Number(r.params.oauth_authorization_expires_in)).toBe(Number(r.params.oauth_expires_in));
  });

  it('refuses a wrong handle, a missing handle, another grant handle; the token keeps working', async () => {
    const a = await dance();
    const other = await dance();
    expectRefused(await renew(a, 'not-the-handle'), 401, 'token_rejected');
    expectRefused(await renew(a, other.handle), 401, 'token_rejected');
    expectRefused(await renew(a, ''), 401, 'token_rejected');
    expect((await myself(a)).status).toBe(200);
    expect((await myself(other)).status).toBe(200);
  });

  it('refuses a renewal signed with a request token, or with another consumer', async () => {
    const a = await dance();
    const rt = await signedFetch(url('/oauth/request-token'), { ...sign(), oauth: { oauth_callback: 'oob' } });
    expectRefused(await renew(credentialsOf(rt.params, 'request token'), a.handle), 401, 'token_rejected');
    const other = await seedConsumer(s, `other-${database}`);
    expectRefused(await renew(a, a.handle, other), 401, 'token_rejected');
    expectRefused(await renew({ token: a.token, secret: 'wrong' }, a.handle), 401, 'signature_invalid');
  });

  it('refuses a revoked grant, an expired authorization, a disabled user or consumer', async () => {
    const revoked = await dance();
    await knex()('access_tokens')
      .where({ token_hash: hashToken(revoked.token) })
      .update({ revoked_at: Date.now() });
    expectRefused(await renew(revoked, revoked.handle), 401, 'token_revoked');

    const lapsed = await dance();
    await knex()('access_tokens')
      .where({ token_hash: hashToken(lapsed.token) })
      .update({ authorization_expires_at: Date.now() - 1, expires_at: Date.now() - 1 });
    expectRefused(await renew(lapsed, lapsed.handle), 401, 'token_expired');

    await seedUser(s, 'dave');
    const dave = await dance('dave');
    await knex()('users').where({ username: 'dave' }).update({ disabled_at: Date.now() });
    expectRefused(await renew(dave, dave.handle), 401, 'permission_denied');
    await knex()('users').where({ username: 'dave' }).update({ disabled_at: null });
    expect((await myself(dave)).status).toBe(200);

    const cons = await seedConsumer(s, `to-disable-${database}`);
    const x = await dance('alice', cons);
    await knex()('consumers').where({ consumer_key: cons.key }).update({ disabled_at: Date.now() });
    expectRefused(await renew(x, x.handle, cons), 401, 'consumer_key_rejected');

    // nothing was renewed by any of them: each grant still has its old token, no renewal audited
    const ids: number[] = [];
    for (const t of [revoked, lapsed, dave, x]) ids.push((await grantOf(t.token)).id);
    expect(await knex()('audit_events').where({ event: 'access_token.renewed' }).whereIn('token_id', ids)).toEqual([]);
  });

  it('a grant made before the session extension (no handle) is not renewable', async () => {
    const a = await dance();
    await knex()('access_tokens')
      .where({ token_hash: hashToken(a.token) })
      .update({ session_handle_hash: null, authorization_expires_at: null });
    expectRefused(await renew(a, a.handle), 401, 'token_rejected');
    expect((await myself(a)).status).toBe(200);
  });

  it('two renewals at once: exactly one wins, and only its token works', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await dance();
      const results = await Promise.all(Array.from({ length: 6 }, () => renew(a, a.handle)));
      const won = results.filter((r) => r.status === 200);
      expect(won, results.map((r) => r.body).join('\n')).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expectRefused(r, 401, 'token_rejected');
      const winner = credentialsOf(must(won[0], 'the renewal that answered 200').params, 'renewed access token');
      expect((await myself(winner)).status).toBe(200);
      expectRefused(await myself(a), 401, 'token_rejected');
      const g = await grantOf(winner.token);
      expect(await knex()('audit_events').where({ event: 'access_token.renewed', token_id: g.id })).toHaveLength(1);
    }
  });
});

describe('APPLINK_AUTHORIZATION_TTL', () => {
  const base = { APPLINK_SECRET_KEY: Buffer.alloc(32, 1).toString('base64') };
  it('defaults to 5 years + 30 days (the token: 5 years), 0 = no expiry, refuses nonsense', () => {
    expect(loadConfig(base).authorizationTtl).toBe(157_680_000 + 30 * 86_400);
    expect(loadConfig(base).accessTokenTtl).toBe(157_680_000);
    expect(loadConfig({ ...base, APPLINK_AUTHORIZATION_TTL: '0' }).authorizationTtl).toBe(0);
    for (const bad of ['-1', '1.5', 'forever']) {
      expect(() => loadConfig({ ...base, APPLINK_AUTHORIZATION_TTL: bad })).toThrow(/APPLINK_AUTHORIZATION_TTL/);
    }
  });
});
