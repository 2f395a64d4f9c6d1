// In real Chromium: axe-core over every page applink renders (signed out, a user, an
// admin; consent, the oob verifier and denied pages, the error pages, first-run setup),
// each in the light and the dark colour scheme and at desktop and phone widths, failing
// on any violation; the keyboard focus ring's contrast; and the page polish of issue 13
// (no word broken in the audit table at 1280 px, the verifier on one line on a phone,
// the sign-in page naming the application, names not repeated, navigation kept on
// error pages, the setup code kept after an error, plurals).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PASSWORD, seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import {
  brokenWords,
  checkPage,
  chromiumAvailable,
  contrastRatio,
  expectNoAxeViolations,
  focusRings,
  launchChromium,
  PHONE,
  shot,
  textOf,
} from '../helpers/chromium';
import { oauth1aClient, type Client } from '../helpers/clients';
import { must } from '../helpers/must';

const run = chromiumAvailable();

const DESKTOP = { width: 1280, height: 900 };

// Three axe runs per page on a two-core machine shared with other suites: minutes, not seconds.
describe.runIf(run)('every page in Chromium: axe-core, focus ring, polish', { timeout: 240_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let wiki: Client;
  let tool: Client;
  const checked: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await (browser as Browser | undefined)?.close();
    await (server as TestServer | undefined)?.stop();
  });

  const newPage = async (viewport = DESKTOP): Promise<Page> => {
    const ctx = await browser.newContext({ viewport });
    contexts.push(ctx);
    return ctx.newPage();
  };

  const signIn = async (page: Page, username: string) => {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname !== '/login');
  };

  const signedIn = async (username: string): Promise<Page> => {
    const page = await newPage();
    await page.goto(`${server.url}/login`);
    await signIn(page, username);
    return page;
  };

  /**
   * axe over the page as it is now: light at 1280 px, dark at 1280 px, light on a phone
   * (the same document, re-laid out; no navigation, so a page reached by a POST counts).
   */
  const audit = async (page: Page, what: string) => {
    await checkPage(page);
    await expectNoAxeViolations(page, `${what} (light, desktop)`);
    await page.emulateMedia({ colorScheme: 'dark' });
    await expectNoAxeViolations(page, `${what} (dark, desktop)`);
    await page.emulateMedia({ colorScheme: 'light' });
    const size = must(page.viewportSize(), 'the viewport size');
    await page.setViewportSize(PHONE);
    await checkPage(page);
    await expectNoAxeViolations(page, `${what} (light, phone)`);
    await page.setViewportSize(size);
    checked.push(what);
  };

  it('first-run setup, also after an error (the code typed is kept)', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/setup`);
    await audit(page, 'setup');
    await page.getByLabel('Setup code').fill('WXYZ-WXYZ-WXYZ');
    await page.getByLabel('Username').fill('root');
    await page.getByLabel('Email').fill('root@example.com');
    await page.getByLabel('Password', { exact: true }).fill('a long admin password');
    await page.getByLabel('Password again').fill('a different password');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    expect(await textOf(page.locator('#error'))).toBe('The two passwords differ.');
    // The code and the other fields survive the error; the passwords are typed again.
    expect(await page.getByLabel('Setup code').inputValue()).toBe('WXYZ-WXYZ-WXYZ');
    expect(await page.getByLabel('Username').inputValue()).toBe('root');
    expect(await page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    await page.getByLabel('Password', { exact: true }).fill('a long admin password');
    await page.getByLabel('Password again').fill('a long admin password');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    expect(await textOf(page.locator('#error'))).toBe('That setup code is not right. Copy it from the server log.');
    expect(await page.getByLabel('Setup code').inputValue()).toBe('WXYZ-WXYZ-WXYZ');
    await audit(page, 'setup, wrong code');

    // The rest of the suite: an admin, users with and without a display name, consumers.
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'alice');
    await server.services.users.create(OPERATOR, { username: 'plain', email: 'plain@example.com', password: PASSWORD });
    const w = await seedConsumer(server, 'wiki', { callbackUrl: 'https://wiki.example.com/cb' });
    wiki = oauth1aClient({ base: server.url, key: 'wiki', secret: w.secret, privateKey: '', method: 'HMAC-SHA1' });
    const t = await seedConsumer(server, 'desktop-tool');
    tool = oauth1aClient({
      base: server.url,
      key: 'desktop-tool',
      secret: t.secret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
  });

  it('signed out: sign-in (naming the app that sent the person), not found, form expired', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/login`);
    expect(await page.locator('#requesting-app').count()).toBe(0);
    await audit(page, 'sign-in');

    // Sent by an application: the sign-in page says which, on both authorize paths.
    for (const path of ['/oauth/authorize', '/plugins/servlet/oauth/authorize']) {
      const rt = await wiki.requestToken('https://wiki.example.com/cb/back');
      await page.goto(`${server.url}${path}?oauth_token=${rt.token}`);
      await page.waitForURL(`${server.url}/login?**`);
      expect(await textOf(page.locator('#requesting-app'))).toBe(
        'wiki app asks to link to your account here. Sign in to see what it asks for and to allow or deny it.',
      );
    }
    await audit(page, 'sign-in, sent by an application');
    await shot(page, 'login-requesting-app');
    // A wrong password keeps naming it.
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await textOf(page.locator('#error'))).toContain('Wrong username or password');
    expect(await textOf(page.locator('#requesting-app .app-name'))).toBe('wiki app');

    // Nothing to name for an unknown or answered token, or a next that is not consent.
    for (const next of ['/oauth/authorize?oauth_token=nope', '/oauth/authorize', '/profile/authorized-apps']) {
      await page.goto(`${server.url}/login?next=${encodeURIComponent(next)}`);
      expect(await page.locator('#requesting-app').count(), next).toBe(0);
    }

    const res = await page.goto(`${server.url}/no/such/page`);
    expect(must(res, 'the response').status()).toBe(404);
    expect(await page.locator('nav[aria-label="Main"]').count()).toBe(0);
    await audit(page, 'not found, signed out');

    await page.goto(`${server.url}/login`);
    await page.locator('input[name="_csrf"]').evaluate((e) => ((e as HTMLInputElement).value = 'forged'));
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await textOf(page.locator('h1'))).toBe('Form expired');
    await audit(page, 'form expired, signed out');
  });

  it('a user: consent, verifier, denied, authorized apps, and every error page keeps the navigation', async () => {
    const page = await signedIn('alice');
    await audit(page, 'authorized apps, none');
    expect(await textOf(page.locator('#signed-in-as'))).toBe('alice Example (alice)');

    const rt = await wiki.requestToken('https://wiki.example.com/cb/back');
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt.token}`);
    await audit(page, 'consent (callback)');

    const oob = await tool.requestToken('oob');
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${oob.token}`);
    await audit(page, 'consent (oob)');
    await page.locator('#allow').click();
    const verifier = await textOf(page.locator('#verifier'));
    await audit(page, 'oob verifier');
    const at = await tool.accessToken(oob.token, oob.secret, verifier);
    await tool.get(`${server.url}/rest/api/1/myself`, {}, at.token, at.secret);

    const denied = await tool.requestToken('oob');
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${denied.token}`);
    await page.locator('#deny').click();
    expect(await textOf(page.locator('h1'))).toBe('Access denied');
    await audit(page, 'denied');

    await page.goto(`${server.url}/profile/authorized-apps`);
    expect(await page.locator('#grants tbody tr').count()).toBe(1);
    await audit(page, 'authorized apps');

    // Error pages, signed in: the navigation (and its sign-out form) stays.
    const errors: Array<[string, string, number, string]> = [
      ['/oauth/authorize?oauth_token=no-such-token', 'This link is not valid', 400, 'unknown request token'],
      ['/oauth/authorize', 'This link is not valid', 400, 'no request token'],
      ['/no/such/page', 'Not found', 404, 'not found'],
      ['/admin', 'Administrators only', 403, 'admin, forbidden'],
    ];
    const expired = await tool.requestToken('oob');
    await server.services.db
      .knex('request_tokens')
      .update({ expires_at: Date.now() - 1000 })
      .where({ used_at: null });
    errors.push([`/oauth/authorize?oauth_token=${expired.token}`, 'This request has expired', 400, 'expired']);
    for (const [path, title, status, what] of errors) {
      const res = await page.goto(`${server.url}${path}`);
      expect(must(res, `the response to ${path}`).status(), what).toBe(status);
      expect(await textOf(page.locator('h1')), what).toBe(title);
      expect(await textOf(page.locator('nav[aria-label="Main"]')), what).toContain('Authorized apps');
      expect(await textOf(page.locator('nav[aria-label="Main"] button')), what).toBe('Sign out(alice)');
      await audit(page, `error: ${what}`);
    }

    const off = await seedConsumer(server, 'switched-off');
    const offClient = oauth1aClient({
      base: server.url,
      key: off.key,
      secret: off.secret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
    const offRt = await offClient.requestToken('oob');
    await server.services.consumers.setDisabled(OPERATOR, { key: off.key }, true);
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${offRt.token}`);
    expect(await textOf(page.locator('h1'))).toBe('This application has been disabled');
    expect(await page.locator('nav[aria-label="Main"]').count()).toBe(1);
    await audit(page, 'error: disabled consumer');

    // The confirmation pages of the profile.
    await page.goto(`${server.url}/profile/authorized-apps`);
    await page.locator('#revoke-all').click();
    expect(await textOf(page.locator('h1'))).toBe('Revoke every application?');
    await audit(page, 'confirm: revoke all applications');
    await page.goto(`${server.url}/profile/authorized-apps`);
    await page.locator('#grants a.danger').first().click();
    expect(await textOf(page.locator('h1'))).toBe('Revoke desktop-tool app?');
    await audit(page, 'confirm: revoke an application');

    // A forged form, signed in: 403 with the navigation, and the sign-out form there works.
    await page
      .locator('form:has(#confirm) input[name="_csrf"]')
      .evaluate((e) => ((e as HTMLInputElement).value = 'forged'));
    await page.locator('#confirm').click();
    expect(await textOf(page.locator('h1'))).toBe('Form expired');
    await audit(page, 'error: form expired, signed in');
    await page.locator('nav[aria-label="Main"] button').click();
    await page.waitForURL(`${server.url}/login`);
  });

  it('a user without a display name is named once ("plain", not "plain (plain)")', async () => {
    const page = await signedIn('plain');
    expect(await textOf(page.locator('#signed-in-as'))).toBe('plain');
    const rt = await tool.requestToken('oob');
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt.token}`);
    expect(await textOf(page.locator('#username'))).toBe('plain');
  });

  it('the admin console', async () => {
    const page = await signedIn('root');
    await page.goto(`${server.url}/admin`);
    // one live authorization (alice's), two users... counted with the right noun
    expect(await textOf(page.locator('.stats li').nth(2))).toBe('1 live authorization');
    expect(await textOf(page.locator('.stats li').nth(1))).toBe('3 users');
    await audit(page, 'admin overview');

    await page.goto(`${server.url}/admin/consumers`);
    await audit(page, 'admin consumers');
    await page.getByLabel('Consumer key').fill('wiki'); // taken
    await page.getByLabel('Name', { exact: true }).fill('Broken');
    await page.getByRole('button', { name: 'Create consumer' }).click();
    await page.locator('#error').waitFor();
    await audit(page, 'admin consumers, form error');
    await page.getByLabel('Consumer key').fill('tracker');
    await page.getByRole('button', { name: 'Create consumer' }).click();
    expect(await textOf(page.locator('h1'))).toBe('Consumer created');
    await audit(page, 'admin consumer created');

    const wikiId = must(await server.services.consumers.findByKey('wiki'), 'the wiki consumer').id;
    const toolId = must(await server.services.consumers.findByKey('desktop-tool'), 'the desktop-tool consumer').id;
    await page.goto(`${server.url}/admin/consumers/${toolId}`);
    await audit(page, 'admin consumer with grants');
    await page.goto(`${server.url}/admin/consumers/${wikiId}`);
    await audit(page, 'admin consumer without grants');
    await page.goto(`${server.url}/admin/consumers/${toolId}/revoke-all`);
    expect(await textOf(page.locator('h1'))).toBe('Revoke every token of desktop-tool app?');
    await audit(page, 'admin confirm revoke all');
    await page.goto(`${server.url}/admin/consumers/${toolId}`);
    await page.locator('#grants a.danger').first().click();
    expect(await textOf(page.locator('h1'))).toBe('Revoke the token of alice?');
    await audit(page, 'admin confirm revoke a token');
    await page.goto(`${server.url}/admin/consumers/${toolId}/regenerate-secret`);
    await audit(page, 'admin confirm regenerate secret');
    await page.goto(`${server.url}/admin/consumers/${toolId}/delete`);
    expect(await textOf(page.locator('.card p').first())).toContain('its 1 authorization.');
    await audit(page, 'admin confirm delete');

    await page.goto(`${server.url}/admin/users`);
    expect(await textOf(page.locator('tr[data-user="plain"] [data-label="Name"]'))).toBe('—');
    await audit(page, 'admin users');
    await page.getByRole('link', { name: 'Disable plain…' }).click();
    expect(await textOf(page.locator('h1'))).toBe('Disable plain?');
    await audit(page, 'admin confirm disable user');
    await page.goto(`${server.url}/admin/users`);
    await page.getByRole('link', { name: 'Make admin: plain…' }).click();
    expect(await textOf(page.locator('h1'))).toBe('Make plain an administrator?');
    await audit(page, 'admin confirm make admin');

    await page.goto(`${server.url}/admin/audit`);
    await audit(page, 'admin audit log');
    await page.goto(`${server.url}/admin/audit?from=2000-01-01&to=2000-01-02`);
    await audit(page, 'admin audit log, nothing found');
    await page.goto(`${server.url}/admin/consumers/999999`);
    expect(await textOf(page.locator('h1'))).toBe('Not found');
    expect(await page.locator('nav[aria-label="Main"] a', { hasText: 'Admin' }).count()).toBe(1);
    await audit(page, 'admin, not found');
  });

  it('audit tables break no word at 1280 px (nor on a phone)', async () => {
    // Events like the ones that broke: an actor named admin, IPv4 and IPv6 addresses,
    // long event names, consumer keys and details.
    const admin = await server.services.users.create(OPERATOR, {
      username: 'admin',
      email: 'admin@example.com',
      password: PASSWORD,
      isAdmin: true,
    });
    const wikiId = must(await server.services.consumers.findByKey('wiki'), 'the wiki consumer').id;
    for (const ip of ['127.0.0.1', '203.0.113.254', '2001:db8:85a3::8a2e:370:7334', '::ffff:192.168.100.200'])
      await server.services.store.audit({
        event: 'access_token.revoked_all',
        actorUserId: admin.id,
        consumerId: wikiId,
        tokenId: 123456,
        ip,
        detail: { by: 'admin', username: 'alice', consumerKey: 'confluence-cloud-production' },
      });
    const page = await signedIn('admin');
    for (const path of ['/admin/audit', '/admin']) {
      await page.goto(`${server.url}${path}`);
      expect(await brokenWords(page, '#audit td'), `${path} at 1280 px`).toEqual([]);
      // ... and at 1280 px the table fits: it need not scroll inside its box either.
      expect(
        await page.locator('#audit').evaluate((t) => {
          const box = t.parentElement;
          if (!box) throw new Error('the audit table has no parent');
          return box.scrollWidth - box.clientWidth;
        }),
        `${path}: the audit table fits at 1280 px`,
      ).toBeLessThanOrEqual(0);
      await shot(page, `polish${path.replace(/\//g, '-')}`);
      await page.setViewportSize(PHONE);
      expect(await brokenWords(page, '#audit td'), `${path} on a phone`).toEqual([]);
      await page.setViewportSize(DESKTOP);
    }
    // Whole words at 1280 px without making the page scroll sideways.
    await page.goto(`${server.url}/admin/audit`);
    await checkPage(page);
    expect(await textOf(page.locator('#audit tbody tr').first().locator('[data-label="Actor"]'))).toBe('admin');
    for (const table of ['/admin/users', '/admin/consumers', `/profile/authorized-apps`]) {
      await page.goto(`${server.url}${table}`);
      expect(await brokenWords(page, 'td'), table).toEqual([]);
    }
  });

  it('the oob verifier stays on one line on a phone (390 and 320 px wide)', async () => {
    for (const width of [PHONE.width, 320]) {
      const page = await newPage({ width, height: 700 });
      const rt = await tool.requestToken('oob');
      await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt.token}`);
      await signIn(page, 'alice');
      await page.locator('#allow').click();
      const box = await page.locator('.code-box').evaluate((el) => {
        const code = el.querySelector('#verifier');
        if (!code) throw new Error('no #verifier in the code box');
        const lineHeight =
          parseFloat(getComputedStyle(code).lineHeight) || parseFloat(getComputedStyle(code).fontSize) * 1.5;
        return {
          lines: Math.round(code.getBoundingClientRect().height / lineHeight),
          rects: code.getClientRects().length,
          scrolls: el.scrollWidth > el.clientWidth,
          text: code.textContent,
        };
      });
      expect(box, `${width} px`).toMatchObject({ lines: 1, rects: 1, scrolls: false });
      expect(box.text).toMatch(/^[0-9a-f]{20}$/);
      await checkPage(page);
      await shot(page, `verifier-${width}`);
    }
  });

  it('the keyboard focus ring is solid, 2 px or more, and 3:1 against what surrounds it (light and dark)', async () => {
    const rt = await wiki.requestToken('https://wiki.example.com/cb/back');
    const alice = await signedIn('alice');
    const admin = await signedIn('root');
    const wikiId = must(await server.services.consumers.findByKey('wiki'), 'the wiki consumer').id;
    const consent = `/oauth/authorize?oauth_token=${rt.token}`;
    const pages: Array<[Page, string]> = [
      [await newPage(), '/login'],
      [alice, consent],
      [alice, '/profile/authorized-apps'],
      [admin, `/admin/consumers/${wikiId}`],
      [admin, '/admin/users'],
      [admin, '/admin/audit'],
    ];
    let stops = 0;
    for (const scheme of ['light', 'dark'] as const) {
      for (const [page, path] of pages) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.goto(`${server.url}${path}`);
        const rings = await focusRings(page);
        expect(rings.length, `${path}: something takes focus`).toBeGreaterThan(2);
        for (const r of rings) {
          const what = `${scheme} ${path} ${r.element}`;
          expect(r.outlineStyle, what).toBe('solid');
          expect(r.outlineWidth, what).toBeGreaterThanOrEqual(2);
          expect(contrastRatio(r.outlineColor, r.behind), `${what}: ring on ${r.behind}`).toBeGreaterThanOrEqual(3);
          expect(contrastRatio(r.outlineColor, r.page), `${what}: ring on the page`).toBeGreaterThanOrEqual(3);
          stops++;
        }
      }
    }
    expect(stops).toBeGreaterThan(30);
    await alice.emulateMedia({ colorScheme: 'light' });
    await alice.goto(`${server.url}${consent}`);
    await alice.keyboard.press('Tab');
    await alice.keyboard.press('Tab');
    await shot(alice, 'focus-ring');
  });

  it('checked every kind of page', () => {
    expect(checked.length).toBeGreaterThanOrEqual(33);
  });
});
