// In real Chromium: what an administrator linking Jira or Confluence meets in the console.
// The link helper (the values to paste, copyable, on the public base URL), regenerating
// the shared secret (confirmed, shown once, the old one dead at once), and Atlassian's
// token-management address. Screenshots for docs/atlassian.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { createServer } from 'node:net';
import { request as httpRequest } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PASSWORD, seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import {
  checkPage,
  chromiumAvailable,
  expectNoAxeViolations,
  launchChromium,
  PHONE,
  SCREENSHOTS,
  shot,
  textOf,
} from '../helpers/chromium';
import { join } from 'node:path';
import { buildSignedRequest, signedFetch } from '../helpers/sign';
import { must } from '../helpers/must';
import { ATLASSIAN_CALLBACK_PATH } from '../../src/http/atlassian-link';

const run = chromiumAvailable();

/** A free loopback port, so that APPLINK_BASE_URL can name the server's own address. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe.runIf(run)('linking Jira or Confluence: the console in Chromium', () => {
  let server: TestServer;
  let base: string;
  let browser: Browser;
  let secret: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = await startTestServer({ APPLINK_PORT: String(port), APPLINK_BASE_URL: base });
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'alice');
    secret = must(
      (await seedConsumer(server, 'jira-prod', { callbackUrl: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}` }))
        .secret,
      "jira-prod's secret",
    );
    await server.services.consumers.update(OPERATOR, { key: 'jira-prod' }, { name: 'Jira' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await (browser as Browser | undefined)?.close();
    await (server as TestServer | undefined)?.stop();
  });

  const signedIn = async (username: string, viewport = { width: 1200, height: 900 }): Promise<Page> => {
    const ctx = await browser.newContext({ viewport });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/profile/authorized-apps`);
    return page;
  };
  const consumerPage = async (page: Page, key: string) => {
    const c = must(await server.services.consumers.findByKey(key), `the consumer ${key}`);
    await page.goto(`${base}/admin/consumers/${c.id}`);
    return c.id;
  };
  /** A request-token step as Jira sends it (form body), with the given secret. */
  const requestToken = (consumerSecret: string) =>
    signedFetch(`${base}/plugins/servlet/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'jira-prod',
      consumerSecret,
      oauth: { oauth_callback: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}?applicationLinkID=42` },
      place: 'body',
    });

  it("shows the values for Jira's Generic Application form, labelled and copyable", async () => {
    const admin = await signedIn('root');
    await consumerPage(admin, 'jira-prod');
    const helper = admin.locator('#atlassian-link');
    expect(await textOf(helper.locator('h2'))).toBe('Link from Jira or Confluence');
    const field = (label: string) => helper.getByLabel(label, { exact: true });
    expect(await field('Consumer key').inputValue()).toBe('jira-prod');
    expect(await field('Request Token URL').inputValue()).toBe(`${base}/plugins/servlet/oauth/request-token`);
    expect(await field('Access token URL').inputValue()).toBe(`${base}/plugins/servlet/oauth/access-token`);
    expect(await field('Authorize URL').inputValue()).toBe(`${base}/plugins/servlet/oauth/authorize`);
    expect(await field('Signature method').inputValue()).toBe('HMAC-SHA1');
    expect(await field('Application Type').inputValue()).toBe('Generic Application');
    expect(await helper.getByLabel('Application URL').inputValue()).toBe(base);
    // The shared secret is never on the page: the helper says where it comes from.
    expect(await admin.content()).not.toContain(secret);
    expect(await textOf(helper.locator('#atl-shared-secret-note'))).toContain('cannot show it again');
    expect(await textOf(helper.locator('#atl-callback-state'))).toContain('https://jira.example.com');
    expect(await helper.locator('#atl-derived').count()).toBe(0);

    // Copy-friendly: read-only (typing changes nothing), select-all takes the whole value,
    // and the copied text is exactly the URL.
    const url = field('Request Token URL');
    await url.click();
    await admin.keyboard.type('xyz');
    expect(await url.inputValue()).toBe(`${base}/plugins/servlet/oauth/request-token`);
    await admin.keyboard.press('Control+A');
    const selected = await url.evaluate((el) => {
      const i = el as HTMLInputElement;
      return i.value.slice(i.selectionStart ?? 0, i.selectionEnd ?? 0);
    });
    expect(selected).toBe(`${base}/plugins/servlet/oauth/request-token`);

    // The pasted values work: Jira's request-token step at that URL with that key.
    const rt = await requestToken(secret);
    expect(rt.status, rt.body).toBe(200);

    await checkPage(admin);
    await expectNoAxeViolations(admin, 'the consumer page with the link helper');
    await shot(admin, 'admin-consumer-atlassian');
    await helper.screenshot({ path: join(SCREENSHOTS, 'atlassian-link-helper.png') });

    // On a phone: still labelled, nothing scrolls sideways.
    const phone = await signedIn('root', PHONE);
    await consumerPage(phone, 'jira-prod');
    await checkPage(phone);
    await shot(phone, 'admin-consumer-atlassian-phone');
  });

  it('regenerates the secret: confirmed, shown once, the old one refused at once', async () => {
    const admin = await signedIn('root');
    const id = await consumerPage(admin, 'jira-prod');
    expect(await textOf(admin.locator('#secret-state'))).toContain('set (shown once');
    await admin.locator('#regenerate-secret').click();
    await admin.waitForURL(`${base}/admin/consumers/${id}/regenerate-secret`);
    expect(await textOf(admin.locator('main'))).toContain('The current secret stops working at once');
    await checkPage(admin);
    await expectNoAxeViolations(admin, 'the regenerate confirmation');
    await shot(admin, 'admin-regenerate-confirm');
    // Cancel changes nothing.
    await admin.getByRole('link', { name: 'Cancel' }).click();
    await admin.waitForURL(`${base}/admin/consumers/${id}`);
    expect((await requestToken(secret)).status).toBe(200);

    await admin.locator('#regenerate-secret').click();
    await admin.locator('#confirm-regenerate').click();
    const fresh = await admin.getByLabel('Shared secret').inputValue();
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(fresh).not.toBe(secret);
    expect(await textOf(admin.locator('#secret-warning'))).toContain('The previous secret no longer works');
    await checkPage(admin);
    await expectNoAxeViolations(admin, 'the new secret');
    await shot(admin, 'atlassian-regenerated-secret');

    const old = await requestToken(secret);
    expect(old.status).toBe(401);
    expect(old.params.oauth_problem).toBe('signature_invalid');
    expect(old.headers.get('www-authenticate')).toContain('OAuth realm=');
    expect((await requestToken(fresh)).status).toBe(200);

    // Shown once: the consumer's page and the audit log do not hold it.
    await admin.getByRole('link', { name: 'Back to Jira' }).click();
    expect(await admin.content()).not.toContain(fresh);
    await admin.goto(`${base}/admin/audit?event=consumer.secret_regenerated`);
    expect(await textOf(admin.locator('tbody tr').first())).toContain('consumer.secret_regenerated');
    expect(await admin.content()).not.toContain(fresh);
    secret = fresh;
  });

  /** Sends a signed request over a plain connection with the Host header a proxy would set. */
  const viaProxy = (consumerSecret: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const r = buildSignedRequest(`${base}/plugins/servlet/oauth/request-token`, {
        method: 'POST',
        signedUrl: 'https://links.example.com/plugins/servlet/oauth/request-token',
        consumerKey: 'jira-prod',
        consumerSecret,
        oauth: { oauth_callback: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}` },
        place: 'body',
      });
      const body = r.init.body;
      if (typeof body !== 'string') throw new Error('the signed request has no form body');
      const req = httpRequest(
        r.url,
        {
          method: 'POST',
          headers: {
            ...(r.init.headers as Record<string, string>),
            host,
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('lists the refused requests of a consumer, and unknown keys, with what explains them', async () => {
    // Real refusals, as the three common problems produce them.
    const now = Math.floor(Date.now() / 1000);
    const skewed = await signedFetch(`${base}/plugins/servlet/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'jira-prod',
      consumerSecret: secret,
      oauth: {
        oauth_callback: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}`,
        oauth_timestamp: String(now - 412),
      },
      place: 'body',
    });
    expect(skewed.params.oauth_problem).toBe('timestamp_refused');
    expect(await viaProxy(secret, 'applink.internal:8080')).toBe(401);
    const stale = await signedFetch(`${base}/plugins/servlet/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'jira-old',
      consumerSecret: 'whatever',
      oauth: { oauth_callback: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}` },
      place: 'body',
    });
    expect(stale.params.oauth_problem).toBe('consumer_key_unknown');
    await server.services.failures.flush();

    const admin = await signedIn('root');
    await consumerPage(admin, 'jira-prod');
    const list = admin.locator('#recent-failures');
    const rows = list.locator('tbody tr');
    // the two above, and the old secret refused in the test before
    expect(await rows.count()).toBe(3);
    const clockRow = list.locator('tr[data-problem="timestamp_refused"]');
    expect(await textOf(clockRow.locator('[data-fact="clock"]'))).toMatch(/^Consumer's clock: 6 min 5\d s behind$/);
    expect(await textOf(clockRow.locator('.hint'))).toContain('Synchronise the clocks');
    const sigRow = list.locator('tr[data-problem="signature_invalid"]', { hasText: 'applink.internal' });
    expect(await textOf(sigRow.locator('[data-fact="verified"]'))).toBe(`applink verified against: ${base}`);
    expect(await textOf(sigRow.locator('[data-fact="reached"]'))).toBe(
      'the request reached: http://applink.internal:8080',
    );
    expect(await textOf(sigRow.locator('.hint'))).toContain(`The consumer must be configured with ${base}`);
    expect(await admin.content()).not.toContain(secret);
    await checkPage(admin);
    await expectNoAxeViolations(admin, 'the consumer page with refused requests');
    await list.screenshot({ path: join(SCREENSHOTS, 'atlassian-failures.png') });

    await admin.locator('.subnav a', { hasText: 'Unknown keys' }).click();
    await admin.waitForURL(`${base}/admin/unknown-keys`);
    const unknown = admin.locator('#unknown-keys tbody tr');
    expect(await unknown.count()).toBe(1);
    expect(await textOf(unknown.locator('[data-label="Consumer key"]'))).toBe('jira-old');
    expect(await textOf(unknown.locator('[data-label="Problem"] code'))).toBe('consumer_key_unknown');
    await checkPage(admin);
    await expectNoAxeViolations(admin, 'the unknown keys');
    await shot(admin, 'atlassian-unknown-keys');

    const phone = await signedIn('root', PHONE);
    await consumerPage(phone, 'jira-prod');
    await checkPage(phone);
    await phone.goto(`${base}/admin/unknown-keys`);
    await checkPage(phone);
    await shot(phone, 'atlassian-unknown-keys-phone');
  });

  it("Atlassian's token-management link leads through sign-in to the authorized apps", async () => {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${base}/plugins/servlet/oauth/users/access-tokens`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/profile/authorized-apps`);
    expect(await textOf(page.locator('h1'))).toBe('Authorized applications');
    await page.goto(`${base}/plugins/servlet/oauth/users/access-tokens/`);
    expect(page.url()).toBe(`${base}/profile/authorized-apps`);
  });
});
