// In real Chromium: the admin console. An admin creates a consumer by form, the example
// consumer uses the key and secret shown once to complete a dance; tokens, disabling,
// deleting, users and the audit log; everyone else gets 403.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PASSWORD, rsaKeys, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { reserveConsumerSite } from '../helpers/example-consumer';
import { checkPage, chromiumAvailable, launchChromium, PHONE, shot, textOf } from '../helpers/chromium';
import { must } from '../helpers/must';
import { AUDIT_PAGE_SIZE } from '../../src/services/audit';

const run = chromiumAvailable();

describe.runIf(run)('the admin console in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    server = await startTestServer();
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'carol');
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await (browser as Browser | undefined)?.close();
    for (const close of closers) await close();
    await (server as TestServer | undefined)?.stop();
  });

  const signedIn = async (username: string, viewport = { width: 1200, height: 900 }): Promise<Page> => {
    const ctx = await browser.newContext({ viewport });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/profile/authorized-apps`);
    return page;
  };

  const consumerId = async (key: string) =>
    must(await server.services.consumers.findByKey(key), `the consumer ${key}`).id;

  it('is for administrators only: others get 403, strangers the sign-in page', async () => {
    const carol = await signedIn('carol');
    expect(await carol.locator('a', { hasText: 'Admin' }).count()).toBe(0);
    for (const path of ['/admin', '/admin/consumers', '/admin/users', '/admin/audit']) {
      const res = await carol.goto(`${server.url}${path}`);
      expect(must(res, `the response to ${path}`).status(), path).toBe(403);
      expect(await textOf(carol.locator('h1'))).toBe('Administrators only');
    }
    await shot(carol, 'admin-forbidden');
    // A POST with carol's own valid CSRF token is still refused, and creates nothing.
    await carol.goto(`${server.url}/profile/authorized-apps`);
    const csrf = await carol.locator('input[name="_csrf"]').first().getAttribute('value');
    const res = await carol.request.post(`${server.url}/admin/users`, {
      form: {
        _csrf: must(csrf, "carol's CSRF token"),
        username: 'mallory',
        email: 'm@example.com',
        password: 'long enough',
        isAdmin: 'yes',
      },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    expect(await server.services.users.findByUsername('mallory')).toBeNull();

    const ctx = await browser.newContext();
    contexts.push(ctx);
    const stranger = await ctx.newPage();
    await stranger.goto(`${server.url}/admin/users`);
    expect(new URL(stranger.url()).pathname).toBe('/login');
    expect(new URL(stranger.url()).searchParams.get('next')).toBe('/admin/users');
  });

  it('creates a consumer by form; that consumer completes a dance with the secret shown once', async () => {
    const site = await reserveConsumerSite();
    closers.push(() => site.close());
    const admin = await signedIn('root');
    await admin.locator('nav a', { hasText: 'Admin' }).click();
    await admin.waitForURL(`${server.url}/admin`);
    await admin.locator('.subnav a', { hasText: 'Consumers' }).click();
    expect(await textOf(admin.locator('#no-consumers'))).toBe('No consumer yet.');
    await admin.getByLabel('Consumer key').fill('wiki');
    await admin.getByLabel('Name', { exact: true }).fill('Team Wiki');
    await admin.getByLabel('Description (optional)').fill('Our cloud wiki');
    await admin.getByLabel('Callback URL (recommended)').fill(site.callbackUrl);
    await checkPage(admin);
    await shot(admin, 'admin-consumer-form');
    await admin.getByRole('button', { name: 'Create consumer' }).click();

    expect(await textOf(admin.locator('h1'))).toBe('Consumer created');
    const key = await textOf(admin.locator('#consumer-key'));
    const secret = await textOf(admin.locator('#consumer-secret'));
    expect(key).toBe('wiki');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    await shot(admin, 'admin-consumer-created');
    // shown once: nowhere else in the console
    await admin.goto(`${server.url}/admin/consumers/${await consumerId('wiki')}`);
    expect(await admin.content()).not.toContain(secret);

    site.start(server, key, secret);
    const carol = await signedIn('carol');
    await carol.goto(site.url);
    await carol.locator('#connect').click();
    await carol.waitForURL(`${server.url}/oauth/authorize?**`);
    expect(await textOf(carol.locator('#consumer-name'))).toBe('Team Wiki');
    await carol.locator('#allow').click();
    await carol.waitForURL(`${site.url}/`);
    expect(JSON.parse(await textOf(carol.locator('#myself')))).toMatchObject({ username: 'carol' });

    // The admin sees carol's grant in the counts and on the consumer's page, and revokes all.
    await admin.goto(`${server.url}/admin/consumers`);
    expect(await textOf(admin.locator('tr[data-consumer="wiki"] [data-label="Authorizations"]'))).toBe('1');
    await admin.goto(`${server.url}/admin`);
    expect(await textOf(admin.locator('#count-grants'))).toBe('1');
    await admin.goto(`${server.url}/admin/consumers/${await consumerId('wiki')}`);
    expect(await textOf(admin.locator('#grants [data-label="User"]'))).toBe('carol');
    await checkPage(admin);
    await shot(admin, 'admin-consumer');
    await admin.locator('#revoke-all').click();
    expect(await textOf(admin.locator('h1'))).toBe('Revoke every token of Team Wiki?');
    expect(await textOf(admin.locator('#confirm-message'))).toBe(
      '1 token of Team Wiki stop working at their next request.',
    );
    await admin.locator('#confirm').click();
    expect(await textOf(admin.locator('#flash'))).toBe('Revoked 1 token of Team Wiki.');
    expect(await textOf(admin.locator('#no-grants'))).toBe('No user has authorized this consumer.');
    await carol.goto(site.url);
    expect(await textOf(carol.locator('#problem'))).toBe('token_revoked');
    await admin.goto(`${server.url}/admin`);
    expect(await textOf(admin.locator('#count-grants'))).toBe('0');

    const events = (await server.services.audits.list({ consumerKey: 'wiki' })).map((e) => [e.event, e.actor]);
    expect(events).toContainEqual(['consumer.created', 'root']);
    expect(events).toContainEqual(['access_token.revoked_all', 'root']);
  });

  it('creates an RSA-only consumer from a pasted PEM, with no secret', async () => {
    const admin = await signedIn('root');
    await admin.goto(`${server.url}/admin/consumers`);
    await admin.getByLabel('Consumer key').fill('jira-dc');
    await admin.getByLabel('Name', { exact: true }).fill('Jira DC');
    await admin.getByLabel('RSA public key (PEM, optional)').fill(rsaKeys.publicKey);
    await admin.getByLabel(/Generate a shared secret/).uncheck();
    await admin.getByRole('button', { name: 'Create consumer' }).click();
    expect(await textOf(admin.locator('h1'))).toBe('Consumer created');
    expect(await admin.locator('#consumer-secret').count()).toBe(0);
    expect(await textOf(admin.locator('#methods'))).toBe('RSA-SHA1, RSA-SHA256');
    const c = must(await server.services.consumers.findByKey('jira-dc'), 'the jira-dc consumer');
    expect(c.hasPublicKey && !c.hasSecret).toBe(true);

    // A bad key is refused with the reason, and the form keeps what was typed.
    await admin.goto(`${server.url}/admin/consumers`);
    await admin.getByLabel('Consumer key').fill('broken');
    await admin.getByLabel('Name', { exact: true }).fill('Broken');
    await admin.getByLabel('RSA public key (PEM, optional)').fill('-----BEGIN PUBLIC KEY-----\nnope\n');
    await admin.getByRole('button', { name: 'Create consumer' }).click();
    expect(await textOf(admin.locator('#error'))).toContain('the public key must be an RSA public key');
    expect(await admin.getByLabel('Consumer key').inputValue()).toBe('broken');
    expect(await server.services.consumers.findByKey('broken')).toBeNull();
  });

  it('edits, disables, enables and deletes a consumer (deleting kills its tokens)', async () => {
    const site = await reserveConsumerSite();
    closers.push(() => site.close());
    const created = await server.services.consumers.create(OPERATOR, {
      key: 'tracker',
      name: 'Tracker',
      callbackUrl: 'http://elsewhere.example/cb',
    });
    const id = created.consumer.id;
    const admin = await signedIn('root');
    await admin.goto(`${server.url}/admin/consumers/${id}`);
    await admin.getByLabel('Name', { exact: true }).fill('Issue Tracker');
    await admin.getByLabel('Description').fill('Bugs and tasks');
    await admin.getByLabel('Callback URL').fill(site.callbackUrl);
    await admin.getByRole('button', { name: 'Save changes' }).click();
    expect(await textOf(admin.locator('#flash'))).toBe('Changes saved.');
    expect(await server.services.consumers.findById(id)).toMatchObject({
      name: 'Issue Tracker',
      description: 'Bugs and tasks',
      callbackUrl: site.callbackUrl,
    });

    site.start(server, 'tracker', must(created.secret, "tracker's secret"));
    const carol = await signedIn('carol');
    await carol.goto(site.url);
    await carol.locator('#connect').click();
    expect(await textOf(carol.locator('#consumer-description'))).toBe('Bugs and tasks');
    await carol.locator('#allow').click();
    expect(await textOf(carol.locator('#myself'))).toContain('"username": "carol"');

    await admin.reload();
    await admin.locator('#disable').click();
    expect(await textOf(admin.locator('#status'))).toContain('disabled');
    await carol.goto(site.url);
    expect(await textOf(carol.locator('#problem'))).toBe('consumer_key_rejected');
    await admin.locator('#enable').click();
    await carol.goto(site.url);
    expect(await textOf(carol.locator('#myself'))).toContain('"username": "carol"');

    await admin.locator('#delete').click();
    expect(await textOf(admin.locator('#grant-count'))).toBe('1');
    await shot(admin, 'admin-consumer-delete');
    await admin.locator('#confirm-delete').click();
    await admin.waitForURL(`${server.url}/admin/consumers`);
    expect(await textOf(admin.locator('#flash'))).toBe('Deleted Issue Tracker and all its tokens.');
    expect(await server.services.consumers.findById(id)).toBeNull();
    expect(await server.services.db.knex('access_tokens').where({ consumer_id: id })).toEqual([]);
    await carol.goto(site.url);
    expect(await textOf(carol.locator('#problem'))).toBe('consumer_key_unknown');
  });

  it('shows a consumer named <script>alert(1)</script> as text in the console', async () => {
    const name = '<script>alert(1)</script>';
    await server.services.consumers.create(OPERATOR, {
      key: 'xss',
      name,
      description: '"><img src=x onerror=alert(2)>',
    });
    const admin = await signedIn('root');
    const dialogs: string[] = [];
    admin.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await admin.goto(`${server.url}/admin/consumers`);
    expect(await textOf(admin.locator('tr[data-consumer="xss"] .app-name'))).toBe(name);
    await admin.goto(`${server.url}/admin/consumers/${await consumerId('xss')}`);
    expect(await textOf(admin.locator('h1 .app-name'))).toBe(name);
    expect(await admin.getByLabel('Description').inputValue()).toBe('"><img src=x onerror=alert(2)>');
    expect(await admin.locator('script').count()).toBe(0);
    expect(await admin.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('manages users: create, sign in, make admin, disable (signed out at once)', async () => {
    const admin = await signedIn('root');
    await admin.goto(`${server.url}/admin/users`);
    await admin.getByLabel('Username').fill('dave');
    await admin.getByLabel('Email').fill('dave@example.com');
    await admin.getByLabel('Display name (optional)').fill('Dave D.');
    await admin.getByLabel('Password', { exact: true }).fill('short');
    await admin.getByRole('button', { name: 'Create user' }).click();
    // the browser's own minlength check keeps the form from being sent
    expect(await server.services.users.findByUsername('dave')).toBeNull();
    await admin.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await admin.getByRole('button', { name: 'Create user' }).click();
    expect(await textOf(admin.locator('#flash'))).toBe('Created dave.');
    await checkPage(admin);
    await shot(admin, 'admin-users');

    const dave = await signedIn('dave');
    expect(await dave.locator('nav a', { hasText: 'Admin' }).count()).toBe(0);

    await admin.getByRole('link', { name: 'Make admin: dave…' }).click();
    expect(await textOf(admin.locator('h1'))).toBe('Make dave an administrator?');
    // Cancel changes nothing.
    await admin.locator('#cancel').click();
    await admin.waitForURL(`${server.url}/admin/users`);
    expect(must(await server.services.users.findByUsername('dave'), 'dave').isAdmin).toBe(false);
    await admin.getByRole('link', { name: 'Make admin: dave…' }).click();
    await admin.locator('#confirm').click();
    expect(await textOf(admin.locator('#flash'))).toBe('dave is now an administrator.');
    await dave.goto(`${server.url}/admin`);
    expect(await textOf(dave.locator('h1'))).toBe('Admin');

    await admin.getByRole('link', { name: 'Disable dave…' }).click();
    expect(await textOf(admin.locator('h1'))).toBe('Disable dave?');
    await shot(admin, 'confirm-disable-user');
    await admin.locator('#confirm').click();
    expect(await textOf(admin.locator('#flash'))).toContain('dave is disabled');
    await dave.goto(`${server.url}/admin`);
    expect(new URL(dave.url()).pathname).toBe('/login');

    // No button can lock the admin out.
    expect(await admin.locator('tr[data-user="root"] :is(button, a)').count()).toBe(0);
    const events = (await server.services.audits.list({ username: 'root' })).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['user.created', 'user.admin_granted', 'user.disabled']));
  });

  it('audit log: filters and paging', async () => {
    const admin = await signedIn('root');
    await admin.goto(`${server.url}/admin/audit`);
    await shot(admin, 'admin-audit');
    for (let i = 0; i < AUDIT_PAGE_SIZE + 20; i++)
      await server.services.store.audit({ event: 'test.bulk', ip: '192.0.2.1', detail: { n: i } });
    await admin.reload();
    expect(await admin.locator('#audit tbody tr').count()).toBe(AUDIT_PAGE_SIZE);

    await admin.getByLabel('Event').selectOption('test.bulk');
    await admin.getByRole('button', { name: 'Filter' }).click();
    await admin.waitForURL(/event=test.bulk/);
    expect(await admin.locator('#audit tbody tr').count()).toBe(AUDIT_PAGE_SIZE);
    expect(await admin.locator('#audit tbody tr:not([data-event="test.bulk"])').count()).toBe(0);
    expect(await textOf(admin.locator('#audit tbody tr [data-label="Detail"]').first())).toBe(
      `n: ${AUDIT_PAGE_SIZE + 19}`,
    );
    await admin.locator('#older').click();
    await admin.waitForURL(/page=2/);
    expect(new URL(admin.url()).searchParams.get('event')).toBe('test.bulk');
    expect(await admin.locator('#audit tbody tr').count()).toBe(20);
    expect(await admin.locator('#older').count()).toBe(0);
    expect(await textOf(admin.locator('#audit tbody tr [data-label="Detail"]').last())).toBe('n: 0');
    await admin.locator('#newer').click();
    await admin.waitForURL((u) => !u.searchParams.has('page'));
    expect(await textOf(admin.locator('#page-no'))).toBe('Page 1');

    await admin.goto(`${server.url}/admin/audit?user=carol`);
    const actors = await admin.locator('#audit tbody [data-label="Actor"]').allTextContents();
    expect(actors.length).toBeGreaterThan(0);
    expect(new Set(actors)).toEqual(new Set(['carol']));
    await admin.goto(`${server.url}/admin/audit?from=2000-01-01&to=2000-01-02`);
    expect(await textOf(admin.locator('#no-events'))).toBe('No events match.');

    const phone = await signedIn('root', PHONE);
    await phone.goto(`${server.url}/admin/audit`);
    await checkPage(phone);
    await shot(phone, 'admin-audit-phone');
  });
});
