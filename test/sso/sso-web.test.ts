// Single sign-on against the real server: assertions signed with keys generated here,
// the key set served from loopback, the browser part over plain HTTP with a cookie jar.
import { writeFileSync } from 'node:fs';
import { OPERATOR } from '../../src/services/actor';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSPKI, importJWK, SignJWT } from 'jose';
import { seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn, verifierFrom } from '../helpers/browser';
import { oauth1aClient } from '../helpers/clients';
import { must } from '../helpers/must';
import {
  assertion,
  AUDIENCE,
  b64url,
  deadUrl,
  ISSUER,
  KeySetServer,
  signingKey,
  ssoEnv,
  type SigningKey,
} from '../helpers/sso';
import { loadConfig } from '../../src/config';
import { configVariable } from '../../src/errors';
import { startServer } from '../../src/server';
import { createLogger } from '../../src/logger';

const HEADER = 'Cf-Access-Jwt-Assertion';
const SID = 'applink.sid';

let k1: SigningKey; // RSA, published
let k2: SigningKey; // EC, published
let stranger: SigningKey; // never published
let keys: KeySetServer;
const servers: TestServer[] = [];

beforeAll(async () => {
  [k1, k2, stranger] = await Promise.all([signingKey('k1'), signingKey('k2', 'ES256'), signingKey('stranger')]);
  keys = await KeySetServer.start([k1, k2]);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await keys.close();
});

const clients = new Map<TestServer, ReturnType<typeof oauth1aClient>>();
const client = (s: TestServer) => must(clients.get(s), 'the client of this server');
const requestToken = (s: TestServer) => client(s).requestToken('oob');

/** A server with alice, bob, carol (disabled) and the consumer `wiki`. */
async function startWithClient(env: Record<string, string>): Promise<TestServer> {
  const s = await startTestServer(env);
  servers.push(s);
  await seedUser(s, 'alice');
  await seedUser(s, 'bob');
  await seedUser(s, 'carol');
  await s.services.users.setDisabled(OPERATOR, { username: 'carol' }, true);
  const { secret } = await seedConsumer(s, 'wiki');
  clients.set(s, oauth1aClient({ base: s.url, key: 'wiki', secret, privateKey: '', method: 'HMAC-SHA1' }));
  return s;
}

const authorizeUrl = (s: TestServer, token: string) =>
  `${s.url}/oauth/authorize?oauth_token=${encodeURIComponent(token)}`;

async function lastAudit(s: TestServer, event: string) {
  const [e] = await s.services.audits.list({ event, limit: 1 });
  return e ? { ...e, detail: e.detail ? (JSON.parse(e.detail) as Record<string, unknown>) : null } : undefined;
}

describe('single sign-on with a trusted assertion', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startWithClient(ssoEnv(keys.url));
  });

  it('a valid assertion reaches the consent page with no password, and the link works', async () => {
    const rt = await requestToken(s);
    const jar = new CookieJar();
    const token = await assertion(k1, { email: 'Alice@Example.com', sub: 'u-1' });
    const consent = await browse(jar, authorizeUrl(s, rt.token), { headers: { [HEADER]: token } });
    const html = await consent.text();
    expect(consent.status, html).toBe(200);
    expect(html).toContain('id="allow"');
    expect(html).toMatch(/id="username">[^<]*\(alice\)/);
    expect(html).not.toContain('name="password"');
    expect(jar.has(SID)).toBe(true);
    expect(await lastAudit(s, 'sso.login')).toMatchObject({ actor: 'alice', detail: {} });

    // The proxy keeps sending its assertion; the session carries the sign-in either way.
    const decision = await browse(jar, `${s.url}/oauth/authorize`, {
      ...form({ _csrf: csrfOf(html), oauth_token: rt.token, decision: 'allow' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', [HEADER]: token },
    });
    expect(decision.status).toBe(200);
    const verifier = await verifierFrom(decision);
    const at = await client(s).accessToken(rt.token, rt.secret, verifier);
    const me = await client(s).get(`${s.url}/rest/api/1/myself`, {}, at.token, at.secret);
    expect(JSON.parse(me.body)).toMatchObject({ username: 'alice', email: 'alice@example.com' });

    const apps = await browse(jar, `${s.url}/profile/authorized-apps`);
    expect(apps.status).toBe(200);
    expect(await apps.text()).toContain('wiki app');
  });

  it('accepts ES256, the cookie instead of the header, and a token within the clock tolerance', async () => {
    const rt = await requestToken(s);
    for (const [name, token, viaCookie] of [
      ['ES256', await assertion(k2, { email: 'bob@example.com' }), false],
      ['cookie', await assertion(k1, { email: 'bob@example.com' }), true],
      ['expired 10 s ago', await assertion(k1, { email: 'bob@example.com' }, { expiresIn: -10 }), false],
      ['valid in 10 s', await assertion(k1, { email: 'bob@example.com' }, { notBefore: 10 }), false],
    ] as const) {
      const jar = new CookieJar();
      const headers: Record<string, string> = viaCookie ? { cookie: `CF_Authorization=${token}` } : { [HEADER]: token };
      const res = await fetch(authorizeUrl(s, rt.token), { headers, redirect: 'manual' });
      jar.store(res);
      expect(res.status, name).toBe(200);
      expect(await res.text(), name).toContain('(bob)');
      expect(jar.has(SID), name).toBe(true);
    }
  });

  it('establishes the session under a new id (a planted session id is worthless)', async () => {
    const jar = new CookieJar();
    // a session id this browser already has (signed in with the form as bob)
    expect((await signIn(s.url, jar, 'bob')).status).toBe(302);
    const before = jar.header();
    expect(before).toContain(`${SID}=`);
    const res = await browse(jar, `${s.url}/profile/authorized-apps`, {
      headers: { [HEADER]: await assertion(k1, { email: 'alice@example.com' }) },
    });
    expect(res.status).toBe(200);
    expect(jar.header()).not.toBe(before);
  });

  describe('a bad assertion signs no one in', () => {
    let rt: { token: string; secret: string };
    beforeAll(async () => {
      rt = await requestToken(s);
    });

    const claims = { email: 'alice@example.com' };
    const cases: Array<[string, () => Promise<string>, string]> = [
      ['wrong audience', () => assertion(k1, claims, { aud: 'another-app' }), 'wrong_audience'],
      ['wrong issuer', () => assertion(k1, claims, { iss: 'https://evil.cloudflareaccess.test' }), 'wrong_issuer'],
      ['expired', () => assertion(k1, claims, { expiresIn: -120 }), 'expired'],
      ['not yet valid', () => assertion(k1, claims, { notBefore: 120 }), 'not_yet_valid'],
      [
        'alg none',
        () =>
          Promise.resolve(
            `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims, iss: ISSUER, aud: AUDIENCE, exp: 4e9 })}.`,
          ),
        'algorithm_not_allowed',
      ],
      [
        'HS256 signed with the public key as the secret',
        async () => {
          const pem = await exportSPKI((await importJWK(k1.publicJwk, 'RS256')) as CryptoKey);
          return new SignJWT(claims)
            .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
            .setIssuer(ISSUER)
            .setAudience(AUDIENCE)
            .setExpirationTime('5m')
            .sign(new TextEncoder().encode(pem));
        },
        'algorithm_not_allowed',
      ],
      ['unknown kid', () => assertion(stranger, claims), 'unknown_key'],
      ['a known kid on a foreign key', () => assertion(stranger, claims, { kid: 'k1' }), 'bad_signature'],
      [
        'tampered payload (bob signed, alice claimed)',
        async () => {
          const [h, , sig] = (await assertion(k1, { email: 'bob@example.com' })).split('.');
          const forged = b64url({ email: 'alice@example.com', iss: ISSUER, aud: AUDIENCE, exp: 4e9 });
          return `${must(h, "bob's header")}.${forged}.${must(sig, "bob's signature")}`;
        },
        'bad_signature',
      ],
      ['no exp', () => assertion(k1, claims, { noExp: true }), 'invalid_claims'],
      ['no email claim', () => assertion(k1, { sub: 'u-1' }), 'no_email'],
      ['not an email', () => assertion(k1, { email: 'alice' }), 'invalid_email'],
      ['not a JWT', () => Promise.resolve('definitely-not-a-jwt'), 'malformed'],
      ['an unknown email (no auto-provisioning)', () => assertion(k1, { email: 'eve@example.com' }), 'unknown_user'],
      ['a disabled user', () => assertion(k1, { email: 'carol@example.com' }), 'user_disabled'],
    ];

    it.each(cases)('%s', async (_name, make, reason) => {
      const token = await make();
      const jar = new CookieJar();
      const res = await browse(jar, authorizeUrl(s, rt.token), { headers: { [HEADER]: token } });
      expect(res.status).toBe(302);
      const to = new URL(must(res.headers.get('location'), 'the redirect to sign-in'), s.url);
      expect(to.pathname).toBe('/login');
      expect(to.searchParams.get('sso')).toBe('refused');
      expect(jar.has(SID)).toBe(false);

      const audit = await lastAudit(s, 'sso.refused');
      // the first refusal of its kind from this address in the window (sampled: count)
      expect(audit?.detail).toEqual({ reason, count: 1 });
      expect(audit?.actor).toBe(reason === 'user_disabled' ? 'carol' : null);
      expect(JSON.stringify(audit)).not.toContain(token.slice(-20) || '§');
      expect(await s.services.users.findByEmail('eve@example.com')).toBeNull();

      // The sign-in page says so, without trying again.
      const page = await browse(jar, to.toString(), { headers: { [HEADER]: token } });
      expect(await page.text()).toContain('id="sso-refused"');
    });
  });

  it('rate-limits key set fetches for unknown kids (the cooldown)', async () => {
    const before = keys.hits;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/profile/authorized-apps`, {
        headers: { [HEADER]: await assertion(stranger, { email: 'alice@example.com' }) },
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
    }
    // The key set was fetched at start, well within the 30 s cooldown: no fetch at all.
    expect(keys.hits - before).toBe(0);
  });

  it('a valid assertion for someone else replaces the session on a page, never on a form post', async () => {
    const rt = await requestToken(s);
    const jar = new CookieJar();
    const alice = await assertion(k1, { email: 'alice@example.com' });
    const bob = await assertion(k1, { email: 'bob@example.com' });
    const page = await browse(jar, authorizeUrl(s, rt.token), { headers: { [HEADER]: alice } });
    const html = await page.text();
    expect(html).toContain('(alice)');

    // The form shown to alice, posted while the proxy now vouches for bob: nobody decides.
    const post = await browse(jar, `${s.url}/oauth/authorize`, {
      ...form({ _csrf: csrfOf(html), oauth_token: rt.token, decision: 'allow' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', [HEADER]: bob },
    });
    expect(post.status).toBe(302);
    expect(new URL(must(post.headers.get('location'), 'the redirect of the post'), s.url).pathname).toBe('/login');
    const stillPending = await fetch(authorizeUrl(s, rt.token), { headers: { [HEADER]: bob }, redirect: 'manual' });
    expect(stillPending.status).toBe(200);

    const switched = await browse(jar, `${s.url}/profile/authorized-apps`, { headers: { [HEADER]: bob } });
    expect(switched.status).toBe(200);
    expect(await lastAudit(s, 'sso.login')).toMatchObject({ actor: 'bob', detail: { replaced: 'alice' } });
    const noHeader = await browse(jar, `${s.url}/profile/authorized-apps`);
    expect(await noHeader.text()).toContain('bob');
  });

  it('keeps the password form working next to SSO', async () => {
    const jar = new CookieJar();
    const res = await signIn(s.url, jar, 'alice');
    expect(res.status).toBe(302);
    expect((await browse(jar, `${s.url}/profile/authorized-apps`)).status).toBe(200);
  });

  it('logs a refusal with its reason and never the assertion', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const config = loadConfig({
      ...s.env,
      APPLINK_LOG_LEVEL: 'info',
      APPLINK_DATABASE_URL: `sqlite:${join(s.dir, 'logged.sqlite')}`,
    });
    const logged = await startServer(config, createLogger(config, sink));
    try {
      const token = await assertion(k1, { email: 'alice@example.com' }, { aud: 'another-app' });
      const res = await fetch(`${logged.url}/profile/authorized-apps`, {
        headers: { [HEADER]: token },
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
      const all = lines.join('');
      expect(all).toContain('"reason":"wrong_audience"');
      expect(all).toContain('sso assertion refused');
      for (const part of token.split('.')) expect(all).not.toContain(part);
      expect(all).not.toContain('alice@example.com');
    } finally {
      await logged.close();
    }
  });
});

describe('the key set', () => {
  it('picks up a rotated key (new kid) and drops a retired one', async () => {
    const rotating = await KeySetServer.start([k1]);
    try {
      const s = await startWithClient(ssoEnv(rotating.url, { APPLINK_SSO_JWKS_COOLDOWN: '0' }));
      const page = (key: SigningKey) =>
        assertion(key, { email: 'alice@example.com' }).then((t) =>
          fetch(`${s.url}/profile/authorized-apps`, { headers: { [HEADER]: t }, redirect: 'manual' }),
        );
      expect((await page(k1)).status).toBe(200);

      const k3 = await signingKey('k3', 'ES256');
      expect((await page(k3)).status).toBe(302); // not published yet
      rotating.publish([k3]);
      const hits = rotating.hits;
      expect((await page(k3)).status).toBe(200);
      expect(rotating.hits).toBe(hits + 1);
      expect((await page(k1)).status).toBe(302);
      expect(await lastAudit(s, 'sso.refused')).toMatchObject({ detail: { reason: 'unknown_key' } });
    } finally {
      await rotating.close();
    }
  });

  it('fails closed when the key set server is down', async () => {
    const s = await startWithClient(ssoEnv(await deadUrl()));
    const rt = await requestToken(s);
    const jar = new CookieJar();
    const res = await browse(jar, authorizeUrl(s, rt.token), {
      headers: { [HEADER]: await assertion(k1, { email: 'alice@example.com' }) },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toContain('sso=refused');
    expect(jar.has(SID)).toBe(false);
    expect(await lastAudit(s, 'sso.refused')).toMatchObject({ detail: { reason: 'key_set_unavailable' } });
  });

  it('can be a local JWKS file, re-read when an unknown kid appears', async () => {
    const dir = must(servers[0], 'the first server started').dir;
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [k1.publicJwk] }));
    const s = await startWithClient({
      APPLINK_SSO_JWKS_FILE: file,
      APPLINK_SSO_ISSUER: ISSUER,
      APPLINK_SSO_AUDIENCE: `other, ${AUDIENCE}`,
      APPLINK_SSO_JWKS_COOLDOWN: '0',
    });
    const page = (key: SigningKey) =>
      assertion(key, { email: 'bob@example.com' }).then((t) =>
        fetch(`${s.url}/profile/authorized-apps`, { headers: { [HEADER]: t }, redirect: 'manual' }),
      );
    expect((await page(k1)).status).toBe(200);
    expect((await page(k2)).status).toBe(302);
    writeFileSync(file, JSON.stringify({ keys: [k1.publicJwk, k2.publicJwk] }));
    expect((await page(k2)).status).toBe(200);
  });

  it('refuses to start on a missing or broken JWKS file, naming the variable', async () => {
    const dir = must(servers[0], 'the first server started').dir;
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"not": "a key set"}');
    for (const path of [join(dir, 'missing.json'), broken]) {
      const err = await startTestServer({
        APPLINK_SSO_JWKS_FILE: path,
        APPLINK_SSO_ISSUER: ISSUER,
        APPLINK_SSO_AUDIENCE: AUDIENCE,
      }).then(
        (started) => {
          servers.push(started);
          return null;
        },
        (e: unknown) => e,
      );
      expect(configVariable(err)).toBe('APPLINK_SSO_JWKS_FILE');
    }
  });
});

describe('auto-provisioning', () => {
  it('creates a user on first sight when on, with a unique username from the email', async () => {
    const s = await startWithClient(ssoEnv(keys.url, { APPLINK_SSO_AUTO_PROVISION: 'on' }));
    const rt = await requestToken(s);
    const visit = async (claims: Record<string, unknown>) => {
      const jar = new CookieJar();
      const res = await browse(jar, authorizeUrl(s, rt.token), { headers: { [HEADER]: await assertion(k1, claims) } });
      return { res, html: await res.text(), jar };
    };
    const first = await visit({ email: "Dora.O'Neil+wiki@Corp.example", name: 'Dora O’Neil' });
    expect(first.res.status).toBe(200);
    expect(first.html).toContain('(dora.o-neil-wiki)');
    const dora = await s.services.users.findByEmail("dora.o'neil+wiki@corp.example");
    expect(dora).toMatchObject({ username: 'dora.o-neil-wiki', displayName: 'Dora O’Neil', isAdmin: false });
    expect(await lastAudit(s, 'sso.login')).toMatchObject({ actor: 'dora.o-neil-wiki', detail: { provisioned: true } });

    // Same local part, other domain: another user, another username.
    const other = await visit({ email: "dora.o'neil+wiki@other.example" });
    expect(other.html).toContain('(dora.o-neil-wiki-2)');
    // The first one again: no new user.
    await visit({ email: "dora.o'neil+wiki@corp.example" });
    expect((await s.services.users.list()).length).toBe(5);
    // A provisioned user has no password: the form never signs them in.
    expect(await s.services.users.authenticate('dora.o-neil-wiki', '')).toBeNull();

    // Disabled later: refused, not re-created.
    await s.services.users.setDisabled(OPERATOR, { username: 'dora.o-neil-wiki' }, true);
    const disabled = await visit({ email: "dora.o'neil+wiki@corp.example" });
    expect(disabled.res.status).toBe(302);
    expect(await lastAudit(s, 'sso.refused')).toMatchObject({ detail: { reason: 'user_disabled' } });
    expect((await s.services.users.list()).length).toBe(5);
  });

  it('creates exactly one user for many simultaneous first sign-ins of one person', async () => {
    const s = await startWithClient(ssoEnv(keys.url, { APPLINK_SSO_AUTO_PROVISION: 'on' }));
    const token = await assertion(k1, { email: 'racer@example.com' });
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${s.url}/profile/authorized-apps`, { headers: { [HEADER]: token }, redirect: 'manual' }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const racers = (await s.services.users.list()).filter((u) => u.email === 'racer@example.com');
    expect(racers.map((u) => u.username)).toEqual(['racer']);
  });

  it('creates no one when off (the default)', async () => {
    const s = must(servers[0], 'the first server started');
    const before = (await s.services.users.list()).length;
    const res = await fetch(`${s.url}/profile/authorized-apps`, {
      headers: { [HEADER]: await assertion(k1, { email: 'newcomer@example.com' }) },
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    expect((await s.services.users.list()).length).toBe(before);
    // refusals are sampled per kind and address: an earlier unknown_user of this server's is the row
    const refused = await s.services.audits.list({ event: 'sso.refused', limit: 100 });
    const reasons = refused.map(
      (e) => (JSON.parse(must(e.detail, 'the detail of an sso.refused entry')) as { reason?: unknown }).reason,
    );
    expect(reasons).toContain('unknown_user');
  });
});

describe('SSO-only (APPLINK_LOGIN_FORM=off)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startWithClient(ssoEnv(keys.url, { APPLINK_LOGIN_FORM: 'off' }));
  });

  it('shows no form and creates no session on the sign-in page', async () => {
    const res = await fetch(`${s.url}/login?next=%2Fprofile%2Fauthorized-apps`);
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('id="sso-only"');
    expect(html).not.toContain('<form');
    expect(html).not.toContain('name="password"');
    expect(html).toContain('href="/profile/authorized-apps"');
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('refuses a password sign-in, even with the right password', async () => {
    const jar = new CookieJar();
    const res = await browse(
      jar,
      `${s.url}/login`,
      form({ username: 'alice', password: 'correct horse battery', next: '/profile/authorized-apps' }),
    );
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('name="password"');
    expect(jar.has(SID)).toBe(false);
  });

  it('signs in with an assertion, from the sign-in page too', async () => {
    const jar = new CookieJar();
    const token = await assertion(k1, { email: 'alice@example.com' });
    const res = await browse(jar, `${s.url}/login?next=%2Fprofile%2Fauthorized-apps`, { headers: { [HEADER]: token } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/profile/authorized-apps');
    const apps = await browse(jar, `${s.url}/profile/authorized-apps`);
    expect(apps.status).toBe(200);
    expect(await apps.text()).toContain('alice');
  });
});
