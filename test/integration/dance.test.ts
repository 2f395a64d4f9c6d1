// The whole three-legged dance against the real server, on SQLite and on PostgreSQL, with
// two independent npm clients, HMAC-SHA1 and RSA-SHA1, with a callback and with oob.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsaKeys, seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, verifierFrom } from '../helpers/browser';
import { nodeOAuthClient, oauth1aClient, type Method } from '../helpers/clients';
import { must } from '../helpers/must';

const CALLBACK = 'http://127.0.0.1:9/linked/callback?state=x%20y';
const cases: Array<[string, Method, string]> = [];
for (const client of ['oauth-1.0a', 'oauth'])
  for (const method of ['HMAC-SHA1', 'RSA-SHA1'] as Method[])
    for (const cb of [CALLBACK, 'oob']) cases.push([client, method, cb]);

describe.each(await testDatabases())('three-legged dance on %s', (database) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ database });
    await seedUser(server, 'alice');
  });
  afterAll(() => server.stop());

  it.each(cases)('%s %s callback=%s', async (clientName, method, callback) => {
    const key = `c-${clientName}-${method}-${callback === 'oob' ? 'oob' : 'cb'}`;
    const { secret } = await seedConsumer(server, key, { rsa: method === 'RSA-SHA1', secret: method !== 'RSA-SHA1' });
    const creds = { base: server.url, key, secret, privateKey: rsaKeys.privateKey, method };
    const client = clientName === 'oauth' ? nodeOAuthClient(creds, callback) : oauth1aClient(creds);

    const rt = await client.requestToken(callback);
    expect(rt.confirmed).toBe('true');
    expect(rt.token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const decision = await approve(server.url, rt.token, 'alice');
    if (callback === 'oob') {
      expect(decision.status).toBe(200);
    } else {
      expect(decision.status).toBe(302);
      const loc = new URL(must(decision.headers.get('location'), 'the callback redirect'));
      expect(`${loc.origin}${loc.pathname}`).toBe('http://127.0.0.1:9/linked/callback');
      expect(loc.searchParams.get('state')).toBe('x y');
      expect(loc.searchParams.get('oauth_token')).toBe(rt.token);
    }
    const verifier = await verifierFrom(decision);

    const at = await client.accessToken(rt.token, rt.secret, verifier);
    expect(at.token).not.toBe(rt.token);

    const url = `${server.url}/rest/api/1/myself`;
    const got = await client.get(url, { q: "a b+c&d=e/ü!*'()~", empty: '' }, at.token, at.secret);
    expect(got.status, got.body).toBe(200);
    expect(JSON.parse(got.body)).toMatchObject({ username: 'alice', email: 'alice@example.com' });

    const name = `Zoë O'Brien & Co. +1 ${method} 日本 😀 100%`;
    const posted = await client.postForm(url, { displayName: name }, at.token, at.secret);
    expect(posted.status, posted.body).toBe(200);
    expect(JSON.parse(posted.body)).toEqual({ username: 'alice', email: 'alice@example.com', displayName: name });

    const again = await client.get(url, {}, at.token, at.secret);
    expect((JSON.parse(again.body) as { displayName: string }).displayName).toBe(name);

    const grants = await server.services.grants.list({ username: 'alice', consumerKey: key });
    expect(grants).toHaveLength(1);
    expect(must(grants[0], 'the grant').lastUsedAt).not.toBeNull();
  });
});
