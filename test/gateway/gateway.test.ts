// The gateway end to end: a real applink server in front of a real upstream on loopback
// that verifies every assertion with jose against /.well-known/jwks.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR, userActor } from '../../src/services/actor';
import { createServer } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import { main } from '../../src/cli';
import {
  linkApp,
  pinnedBase,
  rawSend,
  send,
  sign,
  startUpstream,
  type Linked,
  type Seen,
  type Upstream,
} from '../helpers/gateway';
import { must } from '../helpers/must';
import { capture } from '../helpers/capture';

let up: Upstream;
let server: TestServer;
let alice: Linked;
let deadPort: number;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  up = await startUpstream();
  deadPort = await freePort();
  server = await startTestServer({
    ...(await pinnedBase()),
    APPLINK_GATEWAY_FORWARD_HEADERS: 'X-Custom',
    APPLINK_GATEWAY_ROUTES: `/tracker=${up.url}, /tracker/v2=${up.url}/api/v2, /down=http://127.0.0.1:${deadPort}`,
    APPLINK_GATEWAY_TIMEOUT: '1',
    APPLINK_GATEWAY_BUFFER_LIMIT: '65536',
  });
  up.trust(server.url, ['/tracker', '/tracker/v2']);
  await seedUser(server, 'alice');
  await seedUser(server, 'bob');
  alice = await linkApp(server.url, server.services, 'alice', 'wiki');
});
afterAll(async () => {
  await server.stop();
  await up.close();
});

/** Sends a signed request and returns the answer and what the upstream saw (or null). */
async function through(
  method: string,
  path: string,
  o: Parameters<typeof sign>[3] = {},
  extra: Record<string, string> = {},
  who: Linked = alice,
) {
  const before = up.seen.length;
  const res = await send(method, sign(who, method, `${server.url}${path}`, o), extra);
  const seen: Seen | null = up.seen.length > before ? must(up.seen.at(-1), 'what the upstream saw') : null;
  expect(up.seen.length - before).toBeLessThanOrEqual(1);
  return { ...res, seen };
}

function expectActsFor(seen: Seen | null, username: string, consumerKey: string, l: Linked) {
  expect(seen, 'the call reached the upstream').not.toBeNull();
  const s = must(seen, 'what the upstream saw');
  expect(s.verifyError).toBeNull();
  const c = must(s.claims, 'the verified claims');
  expect(c.iss).toBe(server.url);
  expect(c.sub).toBe(username);
  expect(c.email).toBe(`${username}@example.com`);
  expect(c.name).toBe(`${username} Example`);
  expect(c.consumer_key).toBe(consumerKey);
  expect(c.grant_id).toBe(l.grantId);
  const iat = must(c.iat, 'the iat claim');
  expect(must(c.exp, 'the exp claim') - iat).toBe(60);
  expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(5);
  expect(c.jti).toMatch(/^[0-9a-f-]{36}$/);
  expect(s.headers['x-applink-user']).toBe(username);
  expect(s.headers['x-applink-consumer']).toBe(consumerKey);
  expect(s.headers.authorization).toBeUndefined();
  return s;
}

/** The claims of the assertion the upstream verified. */
const claimsOf = (seen: Seen | null) => must(must(seen, 'what the upstream saw').claims, 'the verified claims');

describe('signed calls reach the upstream as the user', () => {
  it('GET: prefix stripped, query intact, assertion verified against the JWKS', async () => {
    const r = await through('GET', '/tracker/issues/ABC-1', { query: { q: "a b+c&d=e/ü!*'()~", empty: '' } });
    expect(r.status, r.text).toBe(200);
    const seen = expectActsFor(r.seen, 'alice', 'wiki', alice);
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/issues/ABC-1?q=a%20b%2Bc%26d%3De%2F%C3%BC%21%2A%27%28%29~&empty=');
    expect(claimsOf(seen).aud).toBe(`${server.url}/tracker`);
    expect(seen.headers['x-forwarded-prefix']).toBe('/tracker');
    // the upstream's answer comes back, with both cookies, confined to the route
    expect((JSON.parse(r.text) as { url: string }).url).toBe(seen.url);
    expect(r.headers.getSetCookie()).toEqual(['a=1; Path=/tracker', 'b=2; Path=/tracker']);
    expect(r.headers.get('via')).toBe('1.1 applink');
  });

  it('the route prefix alone is the upstream root; the longest prefix wins', async () => {
    const root = await through('GET', '/tracker');
    expect(root.status).toBe(200);
    expect(must(root.seen, 'what the upstream saw').url).toBe('/');
    const v2 = await through('GET', '/tracker/v2/things', { query: { a: '1' } });
    expect(v2.status).toBe(200);
    expect(must(v2.seen, 'what the upstream saw').url).toBe('/api/v2/things?a=1');
    expect(claimsOf(v2.seen).aud).toBe(`${server.url}/tracker/v2`);
    const other = await send('GET', sign(alice, 'GET', `${server.url}/trackers/x`));
    expect(other.status).toBe(404);
  });

  it('updates last_used like any API call', async () => {
    const bob = await linkApp(server.url, server.services, 'bob', 'ci');
    const [before] = await server.services.grants.list({ consumerKey: 'ci' });
    expect(must(before, "ci's grant").lastUsedAt).toBeNull();
    const r = await through('GET', '/tracker/me', {}, {}, bob);
    expectActsFor(r.seen, 'bob', 'ci', bob);
    const after = must((await server.services.grants.list({ consumerKey: 'ci' }))[0], "ci's grant");
    expect(after.lastUsedAt).not.toBeNull();
    expect(after.lastUsedIp).toBe('127.0.0.1');
  });

  it('POST form: the signed body arrives byte for byte', async () => {
    const form = { summary: 'Zoë & co = 100%', empty: '' };
    const s = sign(alice, 'POST', `${server.url}/tracker/issues`, { form });
    const r = await through('POST', '/tracker/issues', { form });
    expect(r.status, r.text).toBe(200);
    const seen = expectActsFor(r.seen, 'alice', 'wiki', alice);
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe(s.body);
    expect(seen.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(must(s.body, 'the signed body'))));
  });

  it('OAuth parameters sent in the form body or the query are removed before forwarding', async () => {
    const inBody = await through('POST', '/tracker/issues', { form: { summary: 'x y' }, oauthIn: 'body' });
    expect(inBody.status, inBody.text).toBe(200);
    const seenBody = expectActsFor(inBody.seen, 'alice', 'wiki', alice);
    expect(seenBody.body).toBe('summary=x%20y');
    expect(seenBody.headers['content-length']).toBe('13');

    const inQuery = await through('GET', '/tracker/search', { query: { jql: 'a=b' }, oauthIn: 'query' });
    expect(inQuery.status, inQuery.text).toBe(200);
    expect(expectActsFor(inQuery.seen, 'alice', 'wiki', alice).url).toBe('/search?jql=a%3Db');
  });

  it('POST JSON with oauth_body_hash arrives intact; a tampered body never arrives', async () => {
    const json = JSON.stringify({ fields: { summary: 'Ünïcode body', n: 1 } });
    const r = await through('POST', '/tracker/rest/issue', { json, query: { notify: 'false' } });
    expect(r.status, r.text).toBe(200);
    const seen = expectActsFor(r.seen, 'alice', 'wiki', alice);
    expect(seen.body).toBe(json);
    expect(seen.url).toBe('/rest/issue?notify=false');
    expect(seen.headers['content-type']).toBe('application/json');

    const s = sign(alice, 'POST', `${server.url}/tracker/rest/issue`, { json });
    const before = up.seen.length;
    const tampered = await send('POST', { ...s, body: json.replace('1', '2') });
    expect(tampered.status).toBe(401);
    expect(tampered.text).toContain('oauth_problem=signature_invalid');
    expect(up.seen.length).toBe(before);
  });

  it('PUT streams a non-form body; DELETE has none', async () => {
    const body = 'x'.repeat(200_000); // above the buffer limit: it is never read before forwarding
    const s = sign(alice, 'PUT', `${server.url}/tracker/attachments/1`);
    const before = up.seen.length;
    const put = await send('PUT', { ...s, body }, { 'content-type': 'application/octet-stream' });
    expect(put.status, put.text).toBe(200);
    const seen = must(up.seen[before], 'what the upstream saw');
    expectActsFor(seen, 'alice', 'wiki', alice);
    expect(seen.method).toBe('PUT');
    expect(seen.bytes).toBe(200_000);
    expect(seen.headers['content-length']).toBe('200000');

    const del = await through('DELETE', '/tracker/issues/ABC-1');
    expect(del.status).toBe(200);
    const seenDel = expectActsFor(del.seen, 'alice', 'wiki', alice);
    expect(seenDel.method).toBe('DELETE');
    expect(seenDel.bytes).toBe(0);
  });

  it('the upstream status and headers come back; hop-by-hop headers do not', async () => {
    up.handle((req, res) => {
      if (!req.url?.startsWith('/teapot')) return false;
      res.writeHead(418, {
        connection: 'keep-alive, x-hop',
        'x-hop': 'secret',
        'keep-alive': 'timeout=5',
        'x-end': 'kept',
      });
      res.end('short and stout');
      return true;
    });
    try {
      const r = await through('GET', '/tracker/teapot');
      expect(r.status).toBe(418);
      expect(r.text).toBe('short and stout');
      expect(r.headers.get('x-end')).toBe('kept');
      expect(r.headers.get('x-hop')).toBeNull();
      expect(r.headers.get('keep-alive')).not.toBe('timeout=5'); // applink's own hop has its own
    } finally {
      up.handle(null);
    }
  });
});

describe('refused calls never reach the upstream', () => {
  async function refused(status: number, problem: string, s: ReturnType<typeof sign>, method = 'GET') {
    const before = up.seen.length;
    const r = await rawSend(method, s.url, s.headers, s.body);
    expect(r.status, r.text).toBe(status);
    expect(r.text).toContain(`oauth_problem=${problem}`);
    expect(r.headers['www-authenticate']).toContain(`oauth_problem="${problem}"`);
    expect(up.seen.length).toBe(before);
  }

  it('a bad signature', async () => {
    const wrong = { ...alice, token: { ...alice.token, secret: 'not-the-secret' } };
    await refused(401, 'signature_invalid', sign(wrong, 'GET', `${server.url}/tracker/x`));
  });

  it('a replay', async () => {
    const s = sign(alice, 'GET', `${server.url}/tracker/once`);
    const first = await send('GET', s);
    expect(first.status).toBe(200);
    await refused(401, 'nonce_used', s);
  });

  it('no signature at all', async () => {
    const before = up.seen.length;
    const r = await fetch(`${server.url}/tracker/x`);
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('oauth_problem=parameter_absent');
    expect(up.seen.length).toBe(before);
  });

  it('a revoked token', async () => {
    const carol = await seedUser(server, 'carol');
    const l = await linkApp(server.url, server.services, 'carol', 'revoked-app');
    expect((await through('GET', '/tracker/x', {}, {}, l)).status).toBe(200);
    await server.services.grants.revoke(userActor(carol, null), { id: l.grantId });
    await refused(401, 'token_revoked', sign(l, 'GET', `${server.url}/tracker/x`));
  });

  it('a disabled user', async () => {
    await seedUser(server, 'dave');
    const l = await linkApp(server.url, server.services, 'dave', 'dave-app');
    expect((await through('GET', '/tracker/x', {}, {}, l)).status).toBe(200);
    await server.services.users.setDisabled(OPERATOR, { username: 'dave' }, true);
    await refused(401, 'permission_denied', sign(l, 'POST', `${server.url}/tracker/x`, { form: { a: '1' } }), 'POST');
  });

  it('a dot segment that could leave the upstream base path', async () => {
    for (const path of ['/tracker/v2/../admin', '/tracker/v2/%2e%2E/admin', '/tracker/a/./b']) {
      await refused(400, 'parameter_rejected', sign(alice, 'GET', `${server.url}${path}`));
    }
  });

  it('a form body over APPLINK_GATEWAY_BUFFER_LIMIT', async () => {
    const s = sign(alice, 'POST', `${server.url}/tracker/x`, { form: { big: 'y'.repeat(70_000) } });
    const before = up.seen.length;
    const r = await send('POST', s);
    expect(r.status).toBe(413);
    expect(r.text).toContain('oauth_problem=parameter_rejected');
    expect(up.seen.length).toBe(before);
  });
});

describe('no spoofing', () => {
  it('client-sent identity, forwarding, OAuth and hop-by-hop headers are stripped', async () => {
    const fake = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.';
    const s = sign(alice, 'GET', `${server.url}/tracker/whoami`);
    const before = up.seen.length;
    const r = await rawSend('GET', s.url, {
      ...s.headers,
      ...{
        'Applink-Jwt-Assertion': fake,
        'X-Applink-User': 'mallory',
        'X-Applink-Consumer': 'evil',
        'X-Applink-Admin': 'true',
        X_Applink_User: 'mallory',
        Applink_Jwt_Assertion: fake,
        'X-Forwarded-For': '10.6.6.6',
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-User': 'mallory',
        X_Forwarded_For: '10.6.6.6',
        Forwarded: 'for=10.6.6.6;host=evil.example',
        'X-Real-IP': '10.6.6.6',
        'Proxy-Authorization': 'Basic bWFsbG9yeTp4',
        Connection: 'x-hop-a, keep-alive',
        'X-Hop-A': 'gone',
        'X-Custom': 'kept',
        'X-Not-Listed': 'dropped',
      },
    });
    expect(r.status, r.text).toBe(200);
    expect(up.seen.length).toBe(before + 1);
    const seen = must(up.seen[before], 'what the upstream saw');
    expectActsFor(seen, 'alice', 'wiki', alice);
    const h = seen.headers;
    expect(h['applink-jwt-assertion']).not.toBe(fake);
    expect(decodeJwt(String(h['applink-jwt-assertion'])).sub).toBe('alice');
    expect(decodeProtectedHeader(String(h['applink-jwt-assertion'])).alg).toBe('ES256');
    expect(h['x-applink-user']).toBe('alice');
    expect(h['x-applink-consumer']).toBe('wiki');
    expect(h['x-applink-admin']).toBeUndefined();
    expect(h['x_applink_user']).toBeUndefined();
    expect(h['applink_jwt_assertion']).toBeUndefined();
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-host']).toBe(new URL(server.url).host);
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-user']).toBeUndefined();
    expect(h['x_forwarded_for']).toBeUndefined();
    expect(h.forwarded).toBeUndefined();
    expect(h['x-real-ip']).toBeUndefined();
    expect(h['proxy-authorization']).toBeUndefined();
    expect(h.authorization).toBeUndefined();
    expect(h['x-hop-a']).toBeUndefined();
    expect(h['x-custom']).toBe('kept'); // APPLINK_GATEWAY_FORWARD_HEADERS
    expect(h['x-not-listed']).toBeUndefined();
    expect(h.host).toBe(new URL(up.url).host);
    expect(h.via).toBe('1.1 applink');
  });
});

describe('upstream failures', () => {
  it('upstream down: 502 with no detail', async () => {
    const r = await send('GET', sign(alice, 'GET', `${server.url}/down/x`));
    expect(r.status).toBe(502);
    expect(r.text).toBe('Bad gateway\n');
    expect(r.text).not.toContain(String(deadPort));
  });

  it('upstream slower than APPLINK_GATEWAY_TIMEOUT: 504', async () => {
    up.handle((req) => req.url?.startsWith('/slow') === true); // never answers
    try {
      const started = Date.now();
      const r = await send('GET', sign(alice, 'GET', `${server.url}/tracker/slow`));
      expect(r.status).toBe(504);
      expect(r.text).toBe('Gateway timeout\n');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      up.handle(null);
    }
  });

  it('an upstream that dies mid-response cuts the response short', async () => {
    up.handle((req, res) => {
      if (!req.url?.startsWith('/dies')) return false;
      res.writeHead(200, { 'content-length': '1000000' });
      res.write('x'.repeat(1000));
      setTimeout(() => res.destroy(), 50);
      return true;
    });
    try {
      const s = sign(alice, 'GET', `${server.url}/tracker/dies`);
      const res = await fetch(s.url, { headers: s.headers });
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
    } finally {
      up.handle(null);
    }
  });
});

describe('keys', () => {
  it('/.well-known/jwks.json publishes public ES256 keys only', async () => {
    const res = await fetch(`${server.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('max-age');
    const { keys } = (await res.json()) as { keys: Array<Record<string, string>> };
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const k of keys) {
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(k.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(k.d).toBeUndefined();
    }
    const row = must(
      await server.services.db.knex('gateway_keys').first<{ private_key_enc: string } | undefined>('private_key_enc'),
      'a gateway key row',
    );
    expect(row.private_key_enc).toMatch(/^v1\./); // sealed with the master key
    expect(row.private_key_enc).not.toContain('PRIVATE KEY');
  });

  it('rotation: the new key is published first, signs after activation, the old one stays published', async () => {
    // The upstream refetches the key set on an unknown kid at most every 500 ms; the new key
    // activates 1.5 s after it is published (in production: jose's 30 s vs the 120 s default).
    up.trust(server.url, ['/tracker', '/tracker/v2'], 500);
    const first = await through('GET', '/tracker/before');
    const firstSeen = expectActsFor(first.seen, 'alice', 'wiki', alice);
    const oldKid = claimsOf(firstSeen).kid;
    const oldAssertion = String(firstSeen.headers['applink-jwt-assertion']);

    const next = await server.services.gatewayKeys.rotate(1500);
    expect(next.state).toBe('next');
    const published = async () =>
      (
        (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }
      ).keys.map((k) => k.kid);
    expect(await published()).toEqual(expect.arrayContaining([oldKid, next.kid]));

    const during = await through('GET', '/tracker/during');
    expectActsFor(during.seen, 'alice', 'wiki', alice);
    expect(claimsOf(during.seen).kid).toBe(oldKid);

    await new Promise((r) => setTimeout(r, 1600));
    const after = await through('GET', '/tracker/after');
    expectActsFor(after.seen, 'alice', 'wiki', alice);
    expect(claimsOf(after.seen).kid).toBe(next.kid);
    expect(await published()).toEqual(expect.arrayContaining([oldKid, next.kid]));

    // an assertion signed with the old key before the switch still verifies
    const set = createLocalJWKSet((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    await expect(jwtVerify(oldAssertion, set, { issuer: server.url })).resolves.toBeTruthy();

    const states = await server.services.gatewayKeys.list();
    expect(
      must(
        states.find((k) => k.kid === oldKid),
        'the old key',
      ).state,
    ).toBe('retired');
    expect(
      must(
        states.find((k) => k.kid === next.kid),
        'the next key',
      ).state,
    ).toBe('signing');
  });

  it('`applink gateway rotate-key` on the same database; calls keep verifying throughout', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, server.env);
    const out: string[] = [];
    const io = { out: (x: string) => void out.push(x), readStdin: () => Promise.resolve('') };
    let rotated: { kid: string; state: string };
    try {
      expect(await main(['node', 'applink', 'gateway', 'rotate-key', '--activate-in', 'soon'], io)).toBe(1);
      expect(await main(['node', 'applink', 'gateway', 'rotate-key', '--activate-in', '1', '--json'], io)).toBe(0);
      rotated = JSON.parse(must(out.pop(), 'the printed key')) as { kid: string; state: string };
      expect(rotated.state).toBe('next');
      expect(await main(['node', 'applink', 'gateway', 'keys', '--json'], io)).toBe(0);
      const listed = JSON.parse(must(out.pop(), 'the printed keys')) as Array<{ kid: string; state: string }>;
      expect(
        must(
          listed.find((k) => k.kid === rotated.kid),
          'the rotated key',
        ).state,
      ).toBe('next');
      expect(listed.filter((k) => k.state === 'signing')).toHaveLength(1);
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string }>;
      };
      expect(jwks.keys.map((k) => k.kid)).toContain(rotated.kid);
      const [audit] = await server.services.audits.list({ event: 'gateway.key_rotated' });
      expect(JSON.parse(must(must(audit, 'the audit entry').detail, 'its detail'))).toMatchObject({
        kid: rotated.kid,
        by: 'cli',
      });
    } finally {
      process.env = saved;
    }
    // Until the new key activates, the server signs with the current one.
    const before = await through('GET', '/tracker/after-cli');
    expectActsFor(before.seen, 'alice', 'wiki', alice);
    expect(claimsOf(before.seen).kid).not.toBe(rotated.kid);
    await new Promise((r) => setTimeout(r, 1100));
    server.services.gatewayKeys.refresh(); // what the 30-second re-read does
    const after = await through('GET', '/tracker/after-activation');
    expectActsFor(after.seen, 'alice', 'wiki', alice);
    expect(claimsOf(after.seen).kid).toBe(rotated.kid);
  });
});

describe('behind a base URL with a path', () => {
  let up2: Upstream;
  let server2: TestServer;
  let base: string;
  beforeAll(async () => {
    up2 = await startUpstream();
    const port = await freePort();
    base = `http://127.0.0.1:${port}/applink`;
    server2 = await startTestServer({
      APPLINK_PORT: String(port),
      APPLINK_BASE_URL: base,
      APPLINK_GATEWAY_ROUTES: `/tracker=${up2.url}/jira`,
    });
    up2.trust(base, ['/tracker']);
    await seedUser(server2, 'erin');
  });
  afterAll(async () => {
    await server2.stop();
    await up2.close();
  });

  it('issuer, audience, key set and forwarded prefix all carry the base path', async () => {
    const l = await linkApp(base, server2.services, 'erin', 'wiki');
    const r = await send('GET', sign(l, 'GET', `${base}/tracker/browse/X-1`, { query: { a: 'b' } }));
    expect(r.status, r.text).toBe(200);
    const seen = must(up2.seen.at(-1), 'what the upstream saw');
    expect(seen.verifyError).toBeNull();
    expect(seen.url).toBe('/jira/browse/X-1?a=b');
    expect(seen.claims).toMatchObject({ iss: base, aud: `${base}/tracker`, sub: 'erin' });
    expect(seen.headers['x-forwarded-prefix']).toBe('/applink/tracker');
    expect(r.headers.getSetCookie()).toEqual(['a=1; Path=/applink/tracker', 'b=2; Path=/applink/tracker']);
    expect((await fetch(`${base}/.well-known/jwks.json`)).status).toBe(200);
  });
});

describe("docs/gateway.md's upstream example", () => {
  let child: ChildProcess | undefined;
  let server3: TestServer | undefined;
  afterAll(async () => {
    child?.kill();
    await server3?.stop();
  });

  it('verifies the assertion and greets the user', async () => {
    const doc = readFileSync(join(PROJECT_ROOT, 'docs', 'gateway.md'), 'utf8');
    const code = capture(
      /\*\*The upstream's side\*\*[\s\S]*?```js\n([\s\S]*?)```/,
      doc,
      "the upstream's example in docs/gateway.md",
    );
    expect(code.trim().split('\n')).toHaveLength(10);
    const port = await freePort();
    const base = `http://127.0.0.1:${await freePort()}`;
    server3 = await startTestServer({
      APPLINK_PORT: new URL(base).port,
      APPLINK_BASE_URL: base,
      APPLINK_GATEWAY_ROUTES: `/tracker=http://127.0.0.1:${port}`,
    });
    const source = code.replaceAll('https://applink.example.com', base).replace('8080', String(port));
    child = spawn(process.execPath, ['-e', source], { cwd: PROJECT_ROOT, stdio: 'inherit' });
    await seedUser(server3, 'frank');
    const l = await linkApp(base, server3.services, 'frank', 'wiki');
    let r = { status: 0, text: '' };
    for (let i = 0; i < 50 && r.status !== 200; i++) {
      r = await send('GET', sign(l, 'GET', `${base}/tracker/x`));
      if (r.status === 502) await new Promise((res) => setTimeout(res, 100)); // still starting
    }
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('Hello frank Example (frank), via wiki\n');
    // without applink's assertion, the example refuses
    expect((await fetch(`http://127.0.0.1:${port}/x`, { headers: { 'X-Applink-User': 'frank' } })).status).toBe(401);
  });
});

describe('without APPLINK_GATEWAY_ROUTES', () => {
  it('there is no key set and no forwarding', async () => {
    const plain = await startTestServer();
    try {
      expect((await fetch(`${plain.url}/.well-known/jwks.json`)).status).toBe(404);
      expect(await plain.services.db.knex('gateway_keys').count({ n: '*' })).toEqual([{ n: 0 }]);
    } finally {
      await plain.stop();
    }
  });
});

describe('metrics', () => {
  it('label gateway calls by route prefix, never by the upstream path', async () => {
    expect((await through('GET', '/tracker/issues/XYZ-9')).status).toBe(200);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/applink_http_requests_total\{method="GET",route="\/tracker\/\*",status="200"\} \d+/);
    expect(text).toMatch(/applink_http_requests_total\{method="GET",route="\/tracker\/v2\/\*",status="200"\} \d+/);
    expect(text).not.toContain('XYZ-9');
    expect(text).not.toContain('/issues');
  });
});
