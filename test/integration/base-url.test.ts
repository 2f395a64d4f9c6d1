// Signatures made for the public URL verify behind a proxy: APPLINK_BASE_URL (with a path
// prefix) or trusted X-Forwarded-* headers; and the parameter edge cases survive the trip
// through a real HTTP request (raw '+', repeats, empty values, UTF-8, reserved characters).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { signedFetch } from '../helpers/sign';
import { baseStringUri, signatureBaseString } from '../../src/oauth1/base-string';
import { hmacSignature } from '../../src/oauth1/signature';
import { parseProblemHeader } from '../helpers/problem-header';
import { percentEncode } from '../../src/oauth1/encoding';
import { hashToken, newSecretValue, newTokenValue } from '../../src/oauth1/tokens';
import { must } from '../helpers/must';

async function grant(s: TestServer, consumerKey: string) {
  const token = newTokenValue();
  const secret = newSecretValue();
  const user = await s.services.users.findByUsername('alice');
  const consumer = await s.services.consumers.findByKey(consumerKey);
  await s.services.db.knex('access_tokens').insert({
    token_hash: hashToken(token),
    consumer_id: must(consumer, `consumer ${consumerKey}`).id,
    user_id: must(user, 'user alice').id,
    secret_enc: s.services.box.seal(secret),
    created_at: Date.now(),
  });
  return { token, secret };
}

describe('APPLINK_BASE_URL with a path prefix', () => {
  let s: TestServer;
  let c: { key: string; secret: string | null };
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_BASE_URL: 'https://Links.Example.com:443/applink' });
    await seedUser(s, 'alice');
    c = await seedConsumer(s, 'wiki');
  });
  afterAll(() => s.stop());

  it('serves every route under the prefix', async () => {
    expect((await fetch(`${s.url}/applink/healthz`)).status).toBe(200);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(404);
  });

  it('verifies a request signed for the public URL, and not one signed for the local URL', async () => {
    const at = await grant(s, 'wiki');
    const opts = { consumerKey: c.key, consumerSecret: c.secret, token: at.token, tokenSecret: at.secret };
    const ok = await signedFetch(`${s.url}/applink/rest/api/1/myself`, {
      ...opts,
      signedUrl: 'https://links.example.com/applink/rest/api/1/myself',
    });
    expect(ok.status, ok.body).toBe(200);
    const local = await signedFetch(`${s.url}/applink/rest/api/1/myself`, opts);
    expect(local.status).toBe(401);
    expect(local.params.oauth_problem).toBe('signature_invalid');
    expect(local.params.oauth_signature_base_string).toContain(
      percentEncode('https://links.example.com/applink/rest/api/1/myself'),
    );
    expect(parseProblemHeader(local.headers.get('www-authenticate'))).toEqual({
      realm: 'https://links.example.com/applink',
      ...local.params,
    });
  });

  it('redirects to sign-in under the prefix', async () => {
    const r = await signedFetch(`${s.url}/applink/oauth/request-token`, {
      consumerKey: c.key,
      consumerSecret: c.secret,
      method: 'POST',
      signedUrl: 'https://links.example.com/applink/oauth/request-token',
      oauth: { oauth_callback: 'oob' },
    });
    expect(r.status, r.body).toBe(200);
    const page = await fetch(
      `${s.url}/applink/oauth/authorize?oauth_token=${must(r.params.oauth_token, 'the request token')}`,
      {
        redirect: 'manual',
      },
    );
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toMatch(/^\/applink\/login\?next=%2Fapplink%2Foauth%2Fauthorize/);
  });
});

describe('trusted X-Forwarded-* without a base URL', () => {
  let s: TestServer;
  let plain: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_TRUST_PROXY: 'on' });
    plain = await startTestServer();
    for (const x of [s, plain]) {
      await seedUser(x, 'alice');
      await seedConsumer(x, 'wiki');
    }
  });
  afterAll(async () => {
    await s.stop();
    await plain.stop();
  });

  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'Links.EXAMPLE.com:443' };

  it('builds the base string on the forwarded scheme and host, lower-cased, default port dropped', async () => {
    const secret = must((await s.services.store.findCredentials('wiki', null, null)).consumer, 'consumer wiki').secret;
    const at = await grant(s, 'wiki');
    const r = await signedFetch(`${s.url}/rest/api/1/myself`, {
      consumerKey: 'wiki',
      consumerSecret: secret,
      ...{ token: at.token, tokenSecret: at.secret },
      signedUrl: 'https://links.example.com/rest/api/1/myself',
      headers: forwarded,
    });
    expect(r.status, r.body).toBe(200);
  });

  it('ignores X-Forwarded-* unless APPLINK_TRUST_PROXY is on', async () => {
    const secret = must(
      (await plain.services.store.findCredentials('wiki', null, null)).consumer,
      'consumer wiki',
    ).secret;
    const at = await grant(plain, 'wiki');
    const r = await signedFetch(`${plain.url}/rest/api/1/myself`, {
      consumerKey: 'wiki',
      consumerSecret: secret,
      token: at.token,
      tokenSecret: at.secret,
      signedUrl: 'https://links.example.com/rest/api/1/myself',
      headers: forwarded,
    });
    expect(r.params.oauth_problem).toBe('signature_invalid');
  });
});

describe.each(await testDatabases())('parameter edge cases over the wire on %s', (database) => {
  let s: TestServer;
  let secret: string;
  let at: { token: string; secret: string };
  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'alice');
    secret = must((await seedConsumer(s, 'wiki')).secret, 'the secret of consumer wiki');
    at = await grant(s, 'wiki');
  });
  afterAll(() => s.stop());

  // Signs `decoded` (what the server must decode the raw query/body to) and sends `rawQuery`/`rawBody` as is.
  async function send(method: 'GET' | 'POST', rawQuery: string, decoded: Array<[string, string]>, rawBody?: string) {
    const path = '/rest/api/1/myself';
    const oauth: Array<[string, string]> = [
      ['oauth_consumer_key', 'wiki'],
      ['oauth_token', at.token],
      ['oauth_nonce', newTokenValue()],
      ['oauth_timestamp', String(Math.floor(Date.now() / 1000))],
      ['oauth_signature_method', 'HMAC-SHA1'],
    ];
    const base = signatureBaseString(method, baseStringUri(s.url, path), [...oauth, ...decoded]);
    const sig = hmacSignature('HMAC-SHA1', base, secret, at.secret);
    const header =
      'OAuth ' + [...oauth, ['oauth_signature', sig] as const].map(([k, v]) => `${k}="${percentEncode(v)}"`).join(',');
    const res = await fetch(`${s.url}${path}${rawQuery}`, {
      method,
      headers: {
        authorization: header,
        ...(rawBody !== undefined && { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body: rawBody,
    });
    return { status: res.status, body: await res.text() };
  }

  it.each<[string, string, Array<[string, string]>]>([
    [
      'plus is a space, %2B a plus',
      '?q=a+b&r=a%2Bb&s=a%20b',
      [
        ['q', 'a b'],
        ['r', 'a+b'],
        ['s', 'a b'],
      ],
    ],
    [
      'repeated names, sorted by value',
      '?a=2&a=10&a=1&a=',
      [
        ['a', '2'],
        ['a', '10'],
        ['a', '1'],
        ['a', ''],
      ],
    ],
    [
      'empty values and a bare name',
      '?e=&f&g=1',
      [
        ['e', ''],
        ['f', ''],
        ['g', '1'],
      ],
    ],
    [
      'UTF-8 names and values',
      '?%E6%97%A5=%F0%9F%98%80&n=%C3%BC',
      [
        ['日', '😀'],
        ['n', 'ü'],
      ],
    ],
    [
      'reserved characters',
      '?r=%21%2A%27%28%29&t=~-._&u=%3A%2F%3F%40%5B%5D',
      [
        ['r', "!*'()"],
        ['t', '~-._'],
        ['u', ':/?@[]'],
      ],
    ],
    ['lower-case hex', '?q=%c3%a9', [['q', 'é']]],
    ['raw reserved characters some clients leave unencoded', "?q=it's(ok)*!", [['q', "it's(ok)*!"]]],
  ])('GET with %s', async (_name, raw, decoded) => {
    const r = await send('GET', raw, decoded);
    expect(r.status, r.body).toBe(200);
  });

  it('POST form body with + and repeats alongside a query', async () => {
    const r = await send(
      'POST',
      '?displayName=ignored-in-query&x=1',
      [
        ['displayName', 'ignored-in-query'],
        ['x', '1'],
        ['displayName', 'Zoë + Co'],
        ['y', ''],
      ],
      'displayName=Zo%C3%AB+%2B+Co&y=',
    );
    // displayName appears twice (query and body): the body must hold it once
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { displayName: string }).displayName).toBe('Zoë + Co');
  });

  it('rejects a signature computed as if + were a plus', async () => {
    const r = await send('GET', '?q=a+b', [['q', 'a+b']]);
    expect(r.status).toBe(401);
  });
});
