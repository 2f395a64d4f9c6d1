// In real Chromium: a page served through the gateway cannot act as the signed-in applink
// user (issue 16, item 1). An attacker with a grant of their own (eve) gets a signed
// gateway link opened by a signed-in administrator; the upstream's page carries a script
// that reads the admin console, takes the CSRF token and makes mallory an administrator.
// As a control, the same script served from applink's origin without the sandbox succeeds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PASSWORD, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { chromiumAvailable, launchChromium } from '../helpers/chromium';
import { linkApp, pinnedBase, signRawTarget, startUpstream, type Linked, type Upstream } from '../helpers/gateway';
import { formatForm } from '../../src/oauth1/encoding';
import { must } from '../helpers/must';

const run = chromiumAvailable();

/** The upstream's page: tries everything a same-origin script could, and reports. */
const attackPage = (malloryId: number) => `<!doctype html>
<html><head><title>upstream page</title></head><body><pre id="out"></pre><script>
(async () => {
  const out = document.getElementById('out');
  const log = (k, v) => { out.textContent += k + '=' + v + '\\n'; };
  try { log('cookie', JSON.stringify(document.cookie)); } catch (e) { log('cookie', 'blocked ' + e.name); }
  try { document.cookie = 'applink.sid=evil; path=/'; log('set-cookie', 'done'); } catch (e) { log('set-cookie', 'blocked ' + e.name); }
  try { localStorage.setItem('x', '1'); log('storage', 'done'); } catch (e) { log('storage', 'blocked ' + e.name); }
  let token = 'guessed';
  try {
    const apps = await fetch('/profile/authorized-apps', { credentials: 'include' });
    log('profile', apps.status + ' ' + (await apps.text()).length);
    const users = await (await fetch('/admin/users', { credentials: 'include' })).text();
    token = /name="_csrf" value="([^"]+)"/.exec(users)[1];
    log('read', 'token');
  } catch (e) { log('read', 'blocked ' + e.name); }
  try {
    await fetch('/admin/users/${malloryId}/make-admin', {
      method: 'POST', credentials: 'include', mode: 'no-cors',
      body: new URLSearchParams({ _csrf: token }),
    });
    log('post', 'sent');
  } catch (e) { log('post', 'blocked ' + e.name); }
  log('done', '1');
})();
</script></body></html>`;

describe.runIf(run)('an upstream page in a signed-in administrator\u2019s browser', () => {
  let up: Upstream;
  let server: TestServer;
  let base: string;
  let browser: Browser | undefined;
  let ctx: BrowserContext | undefined;
  let eve: Linked;
  let malloryId: number;

  beforeAll(async () => {
    up = await startUpstream();
    const pinned = await pinnedBase();
    base = pinned.APPLINK_BASE_URL;
    server = await startTestServer({ ...pinned, APPLINK_GATEWAY_ROUTES: `/app=${up.url}` });
    up.trust(base, ['/app']);
    await seedUser(server, 'root', { admin: true });
    malloryId = (await seedUser(server, 'mallory')).id;
    await seedUser(server, 'eve');
    eve = await linkApp(base, server.services, 'eve', 'eve-app');
    up.handle((req, res) => {
      if (!req.url?.startsWith('/page')) return false;
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        // and an attempt to replace the administrator's session
        'set-cookie': ['applink.sid=s%3Aevil.evil; Path=/; HttpOnly', 'upstream=1; Path=/app', 'wide=1; Path=/'],
      });
      res.end(attackPage(malloryId));
      return true;
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await ctx?.close();
    await browser?.close();
    await (server as TestServer | undefined)?.stop();
    await (up as Upstream | undefined)?.close();
  });

  const isAdmin = async (username: string) =>
    must(await server.services.users.findByUsername(username), `the user ${username}`).isAdmin;

  // each test in a fresh browser profile, signed in anew
  const signInAsRoot = async (): Promise<Page> => {
    await ctx?.close();
    const fresh = await must(browser, 'the browser').newContext();
    ctx = fresh;
    const page = await fresh.newPage();
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill('root');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/profile/authorized-apps`);
    return page;
  };

  const report = async (page: Page): Promise<Record<string, string>> => {
    await page.waitForFunction(() => document.getElementById('out')?.textContent.includes('done=1'), null, {
      timeout: 10_000,
    });
    const text = (await page.locator('#out').textContent()) ?? '';
    return Object.fromEntries(
      text
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  };

  it('control: the same script from applink\u2019s own origin, unsandboxed, does make mallory an admin', async () => {
    const page = await signInAsRoot();
    await page.route(`${base}/control-page`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: attackPage(malloryId) }),
    );
    await page.goto(`${base}/control-page`);
    const r = await report(page);
    expect(r.read).toBe('token');
    await expect.poll(() => isAdmin('mallory')).toBe(true);
    await server.services.users.setAdmin(OPERATOR, { username: 'mallory' }, false);
    await page.close();
  });

  it('through the gateway: the script reads nothing, the action does not happen, the session survives', async () => {
    const page = await signInAsRoot();
    expect(await isAdmin('mallory')).toBe(false);
    const seenBefore = up.seen.length;
    const res = await page.goto(`${base}/app/page?${formatForm(signRawTarget(eve, 'GET', base, '/app/page'))}`);
    const answer = must(res, 'the response to the gateway page');
    expect(answer.status()).toBe(200);
    const r = await report(page);
    expect(r.cookie).toMatch(/^blocked/);
    expect(r['set-cookie']).toMatch(/^blocked/);
    expect(r.storage).toMatch(/^blocked/);
    expect(r.read).toMatch(/^blocked/);
    // the upstream acted for eve, and never saw the administrator's session cookie
    const seen = must(up.seen[seenBefore], 'what the upstream saw');
    expect(must(seen.claims, 'the verified claims').sub).toBe('eve');
    expect(seen.headers.cookie ?? '').not.toContain('applink.sid');

    // give a POST that might have been sent every chance to land
    await new Promise((res2) => setTimeout(res2, 500));
    expect(await isAdmin('mallory')).toBe(false);
    const audit = await server.services.db
      .knex('audit_events')
      .where({ event: 'user.admin_granted' })
      .count({ n: '*' });
    expect(Number(must(audit[0], 'the count').n)).toBe(1); // the control's, only

    // still signed in as root (the upstream's Set-Cookie did not replace the session), and the
    // admin console says mallory is no administrator
    const users = await page.goto(`${base}/admin/users`);
    expect(must(users, 'the response to /admin/users').status()).toBe(200);
    const row = page.locator('tr', { hasText: 'mallory' });
    await expect.poll(() => row.locator('a, button', { hasText: /make admin/i }).count()).toBe(1);
    const cookies = await page.context().cookies(base);
    expect(
      must(
        cookies.find((c) => c.name === 'applink.sid'),
        'the session cookie',
      ).value,
    ).not.toContain('evil');
    // the upstream's own cookie is kept
    const routeCookies = await page.context().cookies(`${base}/app/x`);
    expect(routeCookies.find((c) => c.name === 'upstream')?.value).toBe('1');
    // ... confined to the route: never sent to applink's own pages
    expect(routeCookies.find((c) => c.name === 'wide')?.path).toBe('/app');
    expect(cookies.map((c) => c.name)).not.toContain('wide');
    expect(answer.headers()['content-security-policy']).toContain('sandbox');
    await page.close();
  });
});
