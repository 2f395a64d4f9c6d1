// In real Chromium: a person links the example consumer (examples/consumer) to their
// applink account, denies, revokes; the consent page's safety (escaping, framing, CSRF).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PASSWORD, seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { attackerSite, reserveConsumerSite, type Site } from '../helpers/example-consumer';
import { checkPage, chromiumAvailable, launchChromium, PHONE, shot, textOf } from '../helpers/chromium';
import { oauth1aClient } from '../helpers/clients';
import { must } from '../helpers/must';

const run = chromiumAvailable();

describe.runIf(run)('the example consumer in Chromium', () => {
  let server: TestServer;
  let consumer: Awaited<ReturnType<typeof reserveConsumerSite>>;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const sites: Site[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    await seedUser(server, 'alice');
    await seedUser(server, 'bob');
    consumer = await reserveConsumerSite();
    const { secret } = await seedConsumer(server, 'example', { callbackUrl: consumer.callbackUrl });
    consumer.start(server, 'example', must(secret, "example's secret"));
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    // beforeAll may have stopped part-way
    await (browser as Browser | undefined)?.close();
    for (const s of sites) await s.close();
    await (consumer as typeof consumer | undefined)?.close();
    await (server as TestServer | undefined)?.stop();
  });

  const newPage = async (viewport = { width: 1200, height: 900 }): Promise<Page> => {
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

  /** From the consumer's home page to applink's consent page, signed in as `username`. */
  const toConsent = async (page: Page, username: string, screenshot?: string) => {
    await page.goto(consumer.url);
    await page.locator('#connect').click();
    await page.waitForURL(`${server.url}/login?**`);
    await checkPage(page);
    if (screenshot) await shot(page, screenshot);
    await signIn(page, username);
    await page.waitForURL(`${server.url}/oauth/authorize?**`);
  };

  const link = async (page: Page, username: string) => {
    await toConsent(page, username);
    await page.locator('#allow').click();
    await page.waitForURL(`${consumer.url}/`);
    expect(await textOf(page.locator('#myself'))).toContain(`"username": "${username}"`);
  };

  it('links an account: sign in, allow, back at the consumer with the user data', async () => {
    const page = await newPage();
    await page.goto(consumer.url);
    await shot(page, 'example-consumer-home');
    await toConsent(page, 'alice', 'login');

    expect(await textOf(page.locator('#consumer-name'))).toBe('example app');
    expect(await textOf(page.locator('#consumer-description'))).toBe('The example application');
    expect(await textOf(page.locator('#callback-origin'))).toBe(consumer.url);
    expect(await textOf(page.locator('#username'))).toBe('alice Example (alice)');
    expect(await textOf(page.locator('#abilities'))).toContain('make requests to this service as you');
    await checkPage(page);
    await shot(page, 'consent');

    await page.locator('#allow').click();
    await page.waitForURL(`${consumer.url}/`);
    const myself: unknown = JSON.parse(must(await page.locator('#myself').textContent(), 'the #myself text'));
    expect(myself).toEqual({ username: 'alice', email: 'alice@example.com', displayName: 'alice Example' });
    await shot(page, 'example-consumer-linked');

    // The grant, as alice sees it: authorized, used just now, from the consumer's address.
    await page.goto(`${server.url}/profile/authorized-apps`);
    const row = page.locator('#grants tbody tr');
    expect(await row.count()).toBe(1);
    expect(await textOf(row.locator('[data-label="Application"]'))).toBe('example app');
    expect(await row.locator('[data-label="Last used"] time').count()).toBe(1);
    expect(await textOf(row.locator('[data-label="Last address"]'))).toMatch(/127\.0\.0\.1/);
    await checkPage(page);
    await shot(page, 'authorized-apps');
  });

  it('denying sends the person back to the consumer with nothing granted', async () => {
    const page = await newPage();
    await toConsent(page, 'bob');
    await page.locator('#deny').click();
    await page.waitForURL(`${consumer.url}/callback?**`);
    expect(await textOf(page.locator('#declined'))).toBe('You declined the link');
    const url = new URL(page.url());
    expect(url.searchParams.get('oauth_verifier')).toBe('denied');
    expect(url.searchParams.get('oauth_problem')).toBe('permission_denied');
    expect(await server.services.grants.list({ username: 'bob' })).toEqual([]);
    const denied = await server.services.audits.list({ event: 'authorization.denied', username: 'bob' });
    expect(denied).toHaveLength(1);
  });

  it('a revoke in the profile stops the consumer at its next call (token_revoked)', async () => {
    const page = await newPage();
    await link(page, 'bob');
    await page.goto(`${server.url}/profile/authorized-apps`);
    await page.getByRole('link', { name: 'Revoke example app…' }).click();
    // a confirmation page first; nothing is revoked until its form is sent
    expect(await textOf(page.locator('h1'))).toBe('Revoke example app?');
    await checkPage(page);
    await shot(page, 'confirm-revoke');
    await page.locator('#confirm').click();
    expect(await textOf(page.locator('#flash'))).toBe('Access revoked for example app.');
    await page.locator('#none').waitFor({ state: 'visible' });
    await shot(page, 'authorized-apps-revoked');

    await page.goto(consumer.url);
    expect(await textOf(page.locator('#problem'))).toBe('token_revoked');
    await shot(page, 'example-consumer-revoked');
  });

  it('"revoke all" revokes every grant of the user', async () => {
    const page = await newPage();
    await link(page, 'alice');
    expect((await server.services.grants.list({ username: 'alice' })).length).toBeGreaterThanOrEqual(1);
    await page.goto(`${server.url}/profile/authorized-apps`);
    await page.locator('#revoke-all').click();
    expect(await textOf(page.locator('h1'))).toBe('Revoke every application?');
    expect(await textOf(page.locator('#confirm-message'))).toContain('example app');
    await page.locator('#confirm').click();
    expect(await textOf(page.locator('#flash'))).toMatch(/Access revoked for \d+ application/);
    expect(await server.services.grants.list({ username: 'alice' })).toEqual([]);
    await page.goto(consumer.url);
    expect(await textOf(page.locator('#problem'))).toBe('token_revoked');
  });

  it('"not you?" signs out and back in as someone else, on the same request', async () => {
    const page = await newPage();
    await toConsent(page, 'alice');
    const consentUrl = page.url();
    await page.locator('#not-you').click();
    await page.waitForURL(`${server.url}/login?**`);
    await signIn(page, 'bob');
    await page.waitForURL(consentUrl);
    expect(await textOf(page.locator('#username'))).toBe('bob Example (bob)');
    await page.locator('#allow').click();
    expect(await textOf(page.locator('#myself'))).toContain('"username": "bob"');
  });

  it('works on a phone-sized screen', async () => {
    const page = await newPage(PHONE);
    await toConsent(page, 'alice');
    await checkPage(page);
    await shot(page, 'consent-phone');
    await page.locator('#allow').click();
    await page.goto(`${server.url}/profile/authorized-apps`);
    await checkPage(page);
    await shot(page, 'authorized-apps-phone');
  });

  it('oob: the verifier page, and the denied page', async () => {
    const { secret } = await seedConsumer(server, 'desktop-tool');
    const client = oauth1aClient({
      base: server.url,
      key: 'desktop-tool',
      secret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
    const page = await newPage();

    const rt = await client.requestToken('oob');
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt.token}`);
    await signIn(page, 'alice');
    expect(await page.locator('#callback-origin').count()).toBe(0);
    await page.locator('#allow').click();
    const verifier = must(await page.locator('#verifier').textContent(), 'the verifier');
    await checkPage(page);
    await shot(page, 'verifier');
    const at = await client.accessToken(rt.token, rt.secret, verifier);
    const me = await client.get(`${server.url}/rest/api/1/myself`, {}, at.token, at.secret);
    expect((JSON.parse(me.body) as { username: string }).username).toBe('alice');

    const rt2 = await client.requestToken('oob');
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt2.token}`);
    await page.locator('#deny').click();
    expect(await textOf(page.locator('h1'))).toBe('Access denied');
    expect(await textOf(page.locator('#message'))).toContain('desktop-tool app was not allowed to act as you');
    await shot(page, 'denied');
    await expect(client.accessToken(rt2.token, rt2.secret, 'denied')).rejects.toThrow(/401/);
  });

  it('explains expired, unknown and disabled-consumer requests', async () => {
    const { secret } = await seedConsumer(server, 'flaky');
    const client = oauth1aClient({ base: server.url, key: 'flaky', secret, privateKey: '', method: 'HMAC-SHA1' });
    const page = await newPage();
    await page.goto(`${server.url}/login`);
    await signIn(page, 'alice');

    let res = await page.goto(`${server.url}/oauth/authorize?oauth_token=no-such-token`);
    expect(must(res, 'the response for an unknown token').status()).toBe(400);
    expect(await textOf(page.locator('h1'))).toBe('This link is not valid');
    await checkPage(page);
    await shot(page, 'error-unknown-token');

    const expired = await client.requestToken('oob');
    await server.services.db.knex('request_tokens').update({ expires_at: Date.now() - 1000 });
    res = await page.goto(`${server.url}/oauth/authorize?oauth_token=${expired.token}`);
    expect(must(res, 'the response for an expired token').status()).toBe(400);
    expect(await textOf(page.locator('h1'))).toBe('This request has expired');
    expect(await textOf(page.locator('#message'))).toContain('start connecting again');
    await shot(page, 'error-expired');

    const rt = await client.requestToken('oob');
    const c = must(await server.services.consumers.findByKey('flaky'), 'the flaky consumer');
    await server.services.consumers.setDisabled(OPERATOR, { id: c.id }, true);
    res = await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt.token}`);
    expect(must(res, "the response for a disabled consumer's token").status()).toBe(400);
    expect(await textOf(page.locator('h1'))).toBe('This application has been disabled');
    await shot(page, 'error-consumer-disabled');
  });

  it('renders a consumer-supplied name as text, never as markup', async () => {
    const name = '<script>alert(1)</script>';
    const description = '<img src=x onerror="alert(2)"> & "quotes"';
    const created = await server.services.consumers.create(OPERATOR, { key: 'evil', name, description });
    const client = oauth1aClient({
      base: server.url,
      key: 'evil',
      secret: created.secret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
    const rt = await client.requestToken('oob');
    const page = await newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${server.url}/oauth/authorize?oauth_token=${rt.token}`);
    await signIn(page, 'alice');
    expect(await textOf(page.locator('#consumer-name'))).toBe(name);
    expect(await textOf(page.locator('#consumer-description'))).toBe(description);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    await shot(page, 'consent-escaped');
    await page.locator('#allow').click();
    const verifier = await textOf(page.locator('#verifier'));
    expect(await textOf(page.locator('h1'))).toBe(`You allowed ${name}`);
    await client.accessToken(rt.token, rt.secret, verifier);
    await page.goto(`${server.url}/profile/authorized-apps`);
    expect(await textOf(page.locator('#grants .app-name').filter({ hasText: 'alert(1)' }))).toBe(name);
    expect(await page.locator('script').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('the consent page refuses to be framed by another origin', async () => {
    const { secret } = await seedConsumer(server, 'framed');
    const client = oauth1aClient({ base: server.url, key: 'framed', secret, privateKey: '', method: 'HMAC-SHA1' });
    const rt = await client.requestToken('oob');
    const consentUrl = `${server.url}/oauth/authorize?oauth_token=${rt.token}`;
    const evil = await attackerSite(
      () => `<!doctype html><title>Win a prize</title><h1>Click the button!</h1>
<iframe id="victim" src="${consentUrl}" width="800" height="600"></iframe>`,
    );
    sites.push(evil);

    const page = await newPage();
    await page.goto(`${server.url}/login`);
    await signIn(page, 'alice'); // the session cookie goes along to the frame: same site
    const served = page.waitForResponse((r) => r.url() === consentUrl);
    const blocked = page.waitForEvent('console', (m) => m.text().includes("frame-ancestors 'none'"));
    await page.goto(evil.url);
    const response = await served;
    // applink did serve the consent page to the frame (signed in: 200, not a redirect to
    // the sign-in page) ...
    expect(response.status()).toBe(200);
    expect(await response.headerValue('content-security-policy')).toContain("frame-ancestors 'none'");
    // ... and Chromium refused to show it there.
    await blocked;
    const frame = must(
      page.frames().find((f) => f !== page.mainFrame()),
      'the frame',
    );
    expect(await frame.locator('#allow').count()).toBe(0);
    await shot(page, 'consent-framed-blocked');
    // The request is still pending: framing did not decide anything.
    const row = must(
      await server.services.db
        .knex('request_tokens')
        .orderBy('id', 'desc')
        .first<{ user_id: number | null; denied_at: number | null } | undefined>(),
      'the request token',
    );
    expect(row.user_id).toBeNull();
    expect(row.denied_at).toBeNull();
  });

  it('refuses a state-changing POST without a CSRF token (403), from another site or forged', async () => {
    const page = await newPage();
    await link(page, 'alice');
    const grant = must((await server.services.grants.list({ username: 'alice' }))[0], "alice's grant");
    // A page on another origin that auto-submits a revoke form at applink.
    const evil = await attackerSite(
      () => `<!doctype html><title>Cute cats</title>
<form id="f" method="post" action="${server.url}/profile/authorized-apps/${grant.id}/revoke"><input name="x" value="1"></form>
<script>document.getElementById('f').submit()</script>`,
    );
    sites.push(evil);
    const answer = page.waitForResponse((r) => r.url().endsWith(`/profile/authorized-apps/${grant.id}/revoke`));
    await page.goto(evil.url);
    expect((await answer).status()).toBe(403);
    expect(await textOf(page.locator('h1'))).toBe('Form expired');
    await shot(page, 'error-csrf');
    expect((await server.services.grants.list({ username: 'alice' })).map((g) => g.id)).toContain(grant.id);

    // Same browser, same session cookie, a wrong token: still 403, still nothing changed.
    const forged = await page.request.post(`${server.url}/profile/authorized-apps/revoke-all`, {
      form: { _csrf: 'not-the-token' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect((await server.services.grants.list({ username: 'alice' })).map((g) => g.id)).toContain(grant.id);
    // And the consumer still works.
    await page.goto(consumer.url);
    expect(await textOf(page.locator('#myself'))).toContain('"username": "alice"');
  });
});
