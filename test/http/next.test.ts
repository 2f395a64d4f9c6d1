// `next` (where a browser goes after signing in or out) is judged as a browser reads it:
// every variant that a browser would resolve to another origin is replaced by the home
// page, in the unit, over HTTP (sign-in, sign-out, the signed-in GET /login) and in a real
// Chromium on the single-sign-on-only page, whose "continue" link carries it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { safeNext, sameOriginPath } from '../../src/http/web/next';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { chromiumAvailable, launchChromium } from '../helpers/chromium';
import { KeySetServer, signingKey, ssoEnv, type SigningKey } from '../helpers/sso';
import { must } from '../helpers/must';

const HOME = '/profile/authorized-apps';

/** Every one of these leads off-site, or is not a plain path, in some browser reading. */
export const OFF_SITE = [
  '//evil.example',
  '//evil.example/steal',
  '///evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '\\/evil.example',
  '/\t/evil.example/x',
  '/\n/evil.example',
  '/\r/evil.example',
  '/\r\n/evil.example',
  '\t//evil.example',
  ' //evil.example',
  '\u0000//evil.example',
  '/\u0000/evil.example',
  '/\u000b/evil.example',
  '/\u000c/evil.example',
  '/\u007f/evil.example',
  '/ /evil.example',
  '/\t\\evil.example',
  '/\\\tevil.example',
  '/.//evil.example',
  '/./\t/evil.example',
  '/..//evil.example',
  '/a/..//evil.example',
  '/%2e//evil.example',
  '/%2E%2E//evil.example',
  '/.%2e//evil.example',
  '/a/%2e%2e//evil.example',
  '/./\\evil.example',
  'https://evil.example/',
  'HTTPS://evil.example/',
  'https:evil.example',
  'http:/evil.example',
  'http:\\\\evil.example',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'evil.example',
  '%2F%2Fevil.example',
  '%2F%09%2Fevil.example',
  '/x\r\nLocation: //evil.example',
  '',
  `/${'a'.repeat(3000)}`,
];

describe('safeNext', () => {
  it('keeps our own paths, in the form a browser will request them', () => {
    expect(safeNext('/oauth/authorize?oauth_token=x', '')).toBe('/oauth/authorize?oauth_token=x');
    expect(safeNext('/admin/users?q=\u00e9', '')).toBe('/admin/users?q=%C3%A9');
    expect(safeNext('/admin/users?q=a b', '')).toBe(HOME); // a raw space is not how a URL is written
    expect(safeNext('/profile/authorized-apps#top', '')).toBe('/profile/authorized-apps#top');
    // encoded slashes stay encoded: a path on our origin, not a host
    expect(safeNext('/%2F%2Fevil.example', '')).toBe('/%2F%2Fevil.example');
    expect(safeNext('/a/../admin', '')).toBe('/admin');
    expect(safeNext('/@evil.example', '')).toBe('/@evil.example');
    expect(safeNext('/applink/admin', '/applink')).toBe('/applink/admin');
    expect(safeNext('/applink', '/applink')).toBe('/applink');
    expect(safeNext('/applink?x=1', '/applink')).toBe('/applink?x=1');
  });

  it.each(OFF_SITE.map((v) => [JSON.stringify(v).slice(0, 60), v]))('refuses %s', (_shown, bad) => {
    expect(safeNext(bad, '')).toBe(HOME);
    expect(sameOriginPath(bad, '', 'https://links.example.com')).toBeNull();
    expect(safeNext(bad, '/applink')).toBe(`/applink${HOME}`);
  });

  it('refuses what is not a string, and paths outside the base path', () => {
    for (const v of [5, null, undefined, ['/admin'], { a: 1 }]) expect(safeNext(v, '')).toBe(HOME);
    expect(safeNext('/admin', '/applink')).toBe(`/applink${HOME}`);
    expect(safeNext('/applinkevil', '/applink')).toBe(`/applink${HOME}`);
    expect(safeNext('/applink/../admin', '/applink')).toBe(`/applink${HOME}`);
    expect(safeNext('/applink/%2e%2e/admin', '/applink')).toBe(`/applink${HOME}`);
  });

  it('whatever it returns resolves, in the URL parser browsers use, to our own origin', () => {
    const origin = 'https://links.example.com';
    const candidates = [...OFF_SITE, '/ok', '/a/b?c=d#e', '/%2F%2F', '/.%2e/x', '/\u00e9', '/\u3000//evil'];
    for (const c of candidates) {
      const out = safeNext(c, '');
      expect(new URL(out, `${origin}/login`).origin, JSON.stringify(c)).toBe(origin);
      expect(out.startsWith('//')).toBe(false);
    }
  });
});

describe('`next` over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    await seedUser(s, 'alice');
  });
  afterAll(() => s.stop());

  it('sign-in goes home instead of off-site, for every variant', async () => {
    for (const bad of OFF_SITE) {
      const jar = new CookieJar();
      const page = await browse(jar, `${s.url}/login`);
      const res = await browse(
        jar,
        `${s.url}/login`,
        form({ _csrf: csrfOf(await page.text()), username: 'alice', password: 'correct horse battery', next: bad }),
      );
      expect(res.status, JSON.stringify(bad)).toBe(302);
      expect(res.headers.get('location'), JSON.stringify(bad)).toBe(HOME);
    }
  });

  it('the sign-in page carries only a safe next, and a signed-in GET /login follows only a safe one', async () => {
    const jar = new CookieJar();
    expect((await signIn(s.url, jar, 'alice')).status).toBe(302);
    for (const bad of ['/\t/evil.example', '//evil.example', '/%2e//evil.example', '/\\evil.example']) {
      const anon = await fetch(`${s.url}/login?next=${encodeURIComponent(bad)}`);
      expect(await anon.text()).toContain(`name="next" value="${HOME}"`);
      const res = await browse(jar, `${s.url}/login?next=${encodeURIComponent(bad)}`);
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe(HOME);
    }
    const ok = await browse(jar, `${s.url}/login?next=${encodeURIComponent('/oauth/authorize?oauth_token=t')}`);
    expect(ok.headers.get('location')).toBe('/oauth/authorize?oauth_token=t');
  });

  it('sign-out comes back to the consent page only through a safe next', async () => {
    for (const [next, location] of [
      ['/oauth/authorize?oauth_token=t', '/login?next=%2Foauth%2Fauthorize%3Foauth_token%3Dt'],
      ['/\t/evil.example/oauth/authorize', '/login'],
      ['//evil.example/oauth/authorize', '/login'],
      ['/oauth/authorize/..//evil.example', '/login'],
    ] as const) {
      const jar = new CookieJar();
      await signIn(s.url, jar, 'alice');
      const html = await (await browse(jar, `${s.url}${HOME}`)).text();
      const res = await browse(jar, `${s.url}/logout`, form({ _csrf: csrfOf(html), next }));
      expect(res.status).toBe(302);
      expect(res.headers.get('location'), next).toBe(location);
    }
  });
});

describe.runIf(chromiumAvailable())('the SSO-only sign-in page in Chromium', () => {
  let s: TestServer;
  let keys: KeySetServer | undefined;
  let key: SigningKey;
  let browser: Browser | undefined;
  beforeAll(async () => {
    key = await signingKey('proxy-1');
    const keySet = await KeySetServer.start([key]);
    keys = keySet;
    s = await startTestServer(ssoEnv(keySet.url, { APPLINK_LOGIN_FORM: 'off' }));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await (s as TestServer | undefined)?.stop();
    await keys?.close();
  });

  it('"continue" never leads off-site, however next is written', async () => {
    const context = await must(browser, 'the browser').newContext();
    try {
      const page = await context.newPage();
      const origin = new URL(s.url).origin;
      for (const bad of OFF_SITE) {
        await page.goto(`${s.url}/login?next=${encodeURIComponent(bad)}`);
        // the link as Chromium resolved it
        const href = await page.$eval('#sso-continue', (a) => (a as HTMLAnchorElement).href);
        expect(new URL(href).origin, JSON.stringify(bad)).toBe(origin);
        expect(new URL(href).pathname, JSON.stringify(bad)).toBe(HOME);
      }
      // and followed: it stays here
      await page.goto(`${s.url}/login?next=${encodeURIComponent('/\t/evil.example/x')}`);
      await Promise.all([page.waitForURL(`${origin}/**`), page.click('#sso-continue')]);
      expect(new URL(page.url()).origin).toBe(origin);
      // a safe next is kept
      await page.goto(`${s.url}/login?next=${encodeURIComponent('/oauth/authorize?oauth_token=t')}`);
      const href = await page.$eval('#sso-continue', (a) => (a as HTMLAnchorElement).href);
      expect(href).toBe(`${origin}/oauth/authorize?oauth_token=t`);
    } finally {
      await context.close();
    }
  });
});
