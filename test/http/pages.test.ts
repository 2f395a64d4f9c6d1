// The pages' safety over plain HTTP against the real server: cookie flags, session id
// rotation, security headers on every page, CSRF on every state-changing form, `next`
// redirects, sign-in and setup rate limits, base-path prefix, sessions on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { oauth1aClient } from '../helpers/clients';
import { createTempPgDatabase, pgAvailable } from '../helpers/pg';
import { must } from '../helpers/must';
import { safeNext, SESSION_COOKIE } from '../../src/http/web';
import { SETUP_ATTEMPT_LIMIT } from '../../src/http/setup-router';

const cookieOf = (res: Response): string | undefined =>
  res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));

/** Every page must carry these. */
function expectPageHeaders(res: Response, what: string) {
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp, what).toContain("frame-ancestors 'none'");
  expect(csp, what).toContain("script-src 'none'");
  expect(csp, what).toContain("style-src 'self'");
  expect(csp, what).toContain("default-src 'none'");
  expect(csp, what).not.toContain('unsafe-inline');
  expect(res.headers.get('x-frame-options'), what).toBe('DENY');
  expect(res.headers.get('cache-control'), what).toBe('no-store');
  expect(res.headers.get('referrer-policy'), what).toBe('no-referrer');
}

/** No script, no inline style or handler, nothing from another origin. */
function expectCleanHtml(html: string, what: string) {
  expect(html, what).not.toMatch(/<script/i);
  expect(html, what).not.toMatch(/\sstyle=/i);
  expect(html, what).not.toMatch(/<style/i);
  expect(html, what).not.toMatch(/\son[a-z]+=/i);
  expect(html, what).not.toMatch(/(src|href)="(https?:)?\/\//i);
}

describe('pages over HTTP', () => {
  let server: TestServer;
  let consumerSecret: string;
  let adminJar: CookieJar;

  beforeAll(async () => {
    server = await startTestServer();
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'alice');
    consumerSecret = must(
      (await seedConsumer(server, 'wiki', { callbackUrl: 'https://wiki.example.com/cb' })).secret,
      "wiki's secret",
    );
    adminJar = new CookieJar();
    expect((await signIn(server.url, adminJar, 'root')).status).toBe(302);
  });
  afterAll(() => server.stop());

  it('session cookie: HttpOnly, SameSite=Lax, not Secure over http; none before sign-in; a new id at sign-in', async () => {
    const jar = new CookieJar();
    const page = await browse(jar, `${server.url}/login`);
    // signed out: no session, only the stateless CSRF cookie of the form
    expect(jar.has(SESSION_COOKIE)).toBe(false);
    const csrfCookie = must(
      page.headers.getSetCookie().find((c) => c.startsWith('applink.csrf=')),
      'the CSRF cookie',
    );
    expect(csrfCookie).toMatch(/; HttpOnly/);
    expect(csrfCookie).toMatch(/; SameSite=Strict/);
    expect(csrfCookie).not.toMatch(/; Secure/);
    const first = await browse(
      jar,
      `${server.url}/login`,
      form({ _csrf: csrfOf(await page.text()), username: 'alice', password: PASSWORD, next: '' }),
    );
    expect(first.status).toBe(302);
    const before = must(cookieOf(first), 'the session cookie');
    expect(before).toMatch(/; HttpOnly/);
    expect(before).toMatch(/; SameSite=Lax/);
    expect(before).not.toMatch(/; Secure/);
    // signing in again (as someone else) from a browser with a session: a new id
    const again = await browse(jar, `${server.url}/login?sso=refused`);
    const res = await browse(
      jar,
      `${server.url}/login`,
      form({ _csrf: csrfOf(await again.text()), username: 'root', password: PASSWORD, next: '' }),
    );
    expect(res.status).toBe(302);
    const after = must(cookieOf(res), 'the new session cookie');
    expect(after.split(';')[0]).not.toBe(before.split(';')[0]);
    // the old id is worth nothing now
    const old = await fetch(`${server.url}/profile/authorized-apps`, {
      headers: { cookie: must(before.split(';')[0], 'the old cookie pair') },
      redirect: 'manual',
    });
    expect(old.status).toBe(302);
  });

  it('every page carries a strict CSP, frame-ancestors none, no-store, and no inline code', async () => {
    const client = oauth1aClient({
      base: server.url,
      key: 'wiki',
      secret: consumerSecret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
    const rt = await client.requestToken('https://wiki.example.com/cb/x');
    const anon = new CookieJar();
    const pages: Array<[CookieJar, string, number]> = [
      [anon, '/login', 200],
      [anon, '/no-such-page', 404],
      [anon, '/oauth/authorize?oauth_token=nope', 302],
      [adminJar, `/oauth/authorize?oauth_token=${rt.token}`, 200],
      [adminJar, '/oauth/authorize?oauth_token=nope', 400],
      [adminJar, '/profile/authorized-apps', 200],
      [adminJar, '/admin', 200],
      [adminJar, '/admin/consumers', 200],
      [adminJar, `/admin/consumers/${must(await server.services.consumers.findByKey('wiki'), 'wiki').id}`, 200],
      [adminJar, '/admin/users', 200],
      [adminJar, '/admin/audit', 200],
      [adminJar, '/setup', 404],
    ];
    for (const [jar, path, status] of pages) {
      const res = await browse(jar, `${server.url}${path}`);
      expect(res.status, path).toBe(status);
      expectPageHeaders(res, path);
      if (status !== 302) expectCleanHtml(await res.text(), path);
    }
    // The consent form's answer redirects to the consumer: exactly that origin is allowed.
    const consent = await browse(adminJar, `${server.url}/oauth/authorize?oauth_token=${rt.token}`);
    expect(consent.headers.get('content-security-policy')).toContain("form-action 'self' https://wiki.example.com;");
    // No Cross-Origin-Opener-Policy: a consumer that opened the consent page in a popup
    // keeps its window.opener link back from the callback.
    expect(consent.headers.get('cross-origin-opener-policy')).toBeNull();
    const css = await fetch(`${server.url}/static/app.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('refuses every state-changing form without a valid CSRF token (403) and changes nothing', async () => {
    const c = must(await server.services.consumers.findByKey('wiki'), 'the wiki consumer');
    const alice = must(await server.services.users.findByUsername('alice'), 'alice');
    const client = oauth1aClient({
      base: server.url,
      key: 'wiki',
      secret: consumerSecret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
    const rt = await client.requestToken('https://wiki.example.com/cb');
    const auditBefore = (await server.services.audits.list({ limit: 1000 })).length;
    const posts: Array<[string, Record<string, string>]> = [
      ['/login', { username: 'root', password: PASSWORD }],
      ['/logout', {}],
      ['/oauth/authorize', { oauth_token: rt.token, decision: 'allow' }],
      ['/plugins/servlet/oauth/authorize', { oauth_token: rt.token, decision: 'allow' }],
      ['/profile/authorized-apps/1/revoke', {}],
      ['/profile/authorized-apps/revoke-all', {}],
      ['/admin/consumers', { key: 'new', name: 'New', withSecret: 'yes' }],
      [`/admin/consumers/${c.id}`, { name: 'Renamed' }],
      [`/admin/consumers/${c.id}/disable`, {}],
      [`/admin/consumers/${c.id}/revoke-all`, {}],
      [`/admin/consumers/${c.id}/tokens/1/revoke`, {}],
      [`/admin/consumers/${c.id}/delete`, {}],
      ['/admin/users', { username: 'eve', email: 'eve@example.com', password: 'long enough' }],
      [`/admin/users/${alice.id}/disable`, {}],
      [`/admin/users/${alice.id}/make-admin`, {}],
    ];
    for (const [path, fields] of posts) {
      for (const token of [undefined, 'forged']) {
        const res = await browse(adminJar, `${server.url}${path}`, form(token ? { ...fields, _csrf: token } : fields));
        expect(res.status, `${path} ${token ?? 'no token'}`).toBe(403);
      }
    }
    expect(await server.services.consumers.findByKey('wiki')).toMatchObject({ name: 'wiki app', disabled: false });
    expect(await server.services.consumers.findByKey('new')).toBeNull();
    expect(await server.services.users.findByUsername('eve')).toBeNull();
    expect(await server.services.users.findByUsername('alice')).toMatchObject({ disabled: false, isAdmin: false });
    const row = await server.services.db
      .knex('request_tokens')
      .orderBy('id', 'desc')
      .first<{ user_id: number | null; denied_at: number | null } | undefined>();
    expect(row).toMatchObject({ user_id: null, denied_at: null });
    expect((await server.services.audits.list({ limit: 1000 })).length).toBe(auditBefore);
    // Strangers get 403 too, and nothing changes.
    const stranger = await browse(
      new CookieJar(),
      `${server.url}/admin/users`,
      form({ username: 'eve', email: 'eve@example.com', password: 'long enough' }),
    );
    expect(stranger.status).toBe(403);
    expect(await server.services.users.findByUsername('eve')).toBeNull();
    // still signed in: /logout did not happen
    expect((await browse(adminJar, `${server.url}/admin`)).status).toBe(200);
  });

  it('`next` only leads to our own paths', async () => {
    expect(safeNext('/oauth/authorize?oauth_token=x', '')).toBe('/oauth/authorize?oauth_token=x');
    for (const bad of [
      '//evil.example',
      '/\\evil.example',
      'https://evil.example/',
      'javascript:alert(1)',
      '/x\r\nLocation: //e',
      '',
      5,
    ])
      expect(safeNext(bad, '')).toBe('/profile/authorized-apps');
    expect(safeNext('/admin', '/applink')).toBe('/applink/profile/authorized-apps');
    expect(safeNext('/applink/admin', '/applink')).toBe('/applink/admin');

    const jar = new CookieJar();
    const res = await signIn(server.url, jar, 'alice', '//evil.example/steal');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/profile/authorized-apps');
  });

  it(`rate-limits /setup: after ${SETUP_ATTEMPT_LIMIT} attempts, 429 even with the right code`, async () => {
    const logs: Array<Record<string, unknown>> = [];
    const fresh = await startTestServer({}, { logs });
    try {
      const code = must(
        logs.find((l) => l.setupCode),
        'the setup code in the log',
      ).setupCode as string;
      const jar = new CookieJar();
      const attempt = async (setupCode: string) => {
        const page = await browse(jar, `${fresh.url}/setup`);
        const html = await page.text();
        return browse(
          jar,
          `${fresh.url}/setup`,
          form({
            _csrf: csrfOf(html),
            setupCode,
            username: 'boss',
            email: 'boss@example.com',
            password: 'a long password',
            passwordAgain: 'a long password',
          }),
        );
      };
      for (let i = 0; i < SETUP_ATTEMPT_LIMIT; i++) expect((await attempt(`NOPE-NOPE-${i}`)).status).toBe(403);
      const current = must(logs.filter((l) => l.setupCode).at(-1), 'the current setup code in the log')
        .setupCode as string;
      const blocked = await attempt(current);
      expect(blocked.status).toBe(429);
      // when to come back, and the form again with words for people
      expect(blocked.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await blocked.text()).toContain('Too many attempts from your address');
      expect(await fresh.services.users.list()).toEqual([]);
      expect(code).toMatch(/^[A-Z2-9-]{14}$/);
    } finally {
      await fresh.stop();
    }
  });
});

describe('pages behind an https base URL with a path', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ APPLINK_BASE_URL: 'https://links.example.com/applink' });
    await seedUser(server, 'alice');
  });
  afterAll(() => server.stop());

  it('serves under the prefix; the cookie is Secure, scoped to the prefix; HSTS is on', async () => {
    const jar = new CookieJar();
    // The last hop is plain http with no X-Forwarded-Proto (a tunnel): the cookie is still set.
    const page = await browse(jar, `${server.url}/applink/login`);
    expect(page.status).toBe(200);
    // the form's CSRF cookie (under a path, so without the __Host- prefix)
    const csrfCookie = must(
      page.headers.getSetCookie().find((c) => c.startsWith('applink.csrf=')),
      'the CSRF cookie',
    );
    expect(csrfCookie).toMatch(/; Secure/);
    expect(csrfCookie).toMatch(/; Path=\/applink;/);
    expect(csrfCookie).toMatch(/; HttpOnly/);
    expect(page.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(page.headers.get('content-security-policy')).toContain('upgrade-insecure-requests');
    const html = await page.text();
    expect(html).toContain('href="/applink/static/app.css"');
    expect(html).toContain('action="/applink/login"');
    expect((await fetch(`${server.url}/applink/static/app.css`)).status).toBe(200);

    const res = await signIn(`${server.url}/applink`, jar, 'alice');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/applink/profile/authorized-apps');
    const cookie = must(cookieOf(res), 'the session cookie');
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; Path=\/applink;/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect((await browse(jar, `${server.url}/applink/profile/authorized-apps`)).status).toBe(200);
  });
});

describe.runIf(await pgAvailable())('sessions on PostgreSQL', () => {
  it('signs in, keeps the session in the sessions table, and drops it at sign-out', async () => {
    const pg = await createTempPgDatabase();
    const server = await startTestServer({ APPLINK_DATABASE_URL: pg.url });
    try {
      await seedUser(server, 'alice');
      const jar = new CookieJar();
      expect((await signIn(server.url, jar, 'alice')).status).toBe(302);
      const page = await browse(jar, `${server.url}/profile/authorized-apps`);
      expect(page.status).toBe(200);
      const html = await page.text();
      const signedIn = (r: { sess: string }) => (JSON.parse(r.sess) as { userId?: unknown }).userId !== undefined;
      const rows = await server.services.db.knex('sessions').select<Array<{ sess: string }>>('sess');
      expect(rows.some(signedIn)).toBe(true);
      expect((await browse(jar, `${server.url}/logout`, form({ _csrf: csrfOf(html) }))).status).toBe(302);
      const after = await server.services.db.knex('sessions').select<Array<{ sess: string }>>('sess');
      expect(after.some(signedIn)).toBe(false);
      expect((await browse(jar, `${server.url}/profile/authorized-apps`)).status).toBe(302);
    } finally {
      await server.stop();
      await pg.drop();
    }
  });
});
