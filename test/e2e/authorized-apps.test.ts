// In real Chromium, with JavaScript turned off: approving an application again keeps its
// earlier token (docs/pages.md says why); the authorized-apps page shows one row per
// application (how many tokens, first and last authorized, last used), and revoking an
// application (after its confirmation page) revokes every token it holds for the user,
// in one transaction with one audit entry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { PASSWORD, seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { approve, verifierFrom } from '../helpers/browser';
import { oauth1aClient, type Client } from '../helpers/clients';
import { checkPage, chromiumAvailable, launchChromium, shot, textOf } from '../helpers/chromium';
import { must } from '../helpers/must';

const run = chromiumAvailable();

describe.runIf(run)('authorized apps: one row per application, in Chromium without JavaScript', () => {
  let server: TestServer;
  let browser: Browser;
  let wiki: Client;
  let tracker: Client;

  beforeAll(async () => {
    server = await startTestServer();
    await seedUser(server, 'alice');
    const w = await seedConsumer(server, 'wiki');
    const t = await seedConsumer(server, 'tracker');
    wiki = oauth1aClient({ base: server.url, key: 'wiki', secret: w.secret, privateKey: '', method: 'HMAC-SHA1' });
    tracker = oauth1aClient({
      base: server.url,
      key: 'tracker',
      secret: t.secret,
      privateKey: '',
      method: 'HMAC-SHA1',
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await (browser as Browser | undefined)?.close();
    await (server as TestServer | undefined)?.stop();
  });

  const link = async (client: Client) => {
    const rt = await client.requestToken('oob');
    const verifier = await verifierFrom(await approve(server.url, rt.token, 'alice'));
    return client.accessToken(rt.token, rt.secret, verifier);
  };
  const myself = () => `${server.url}/rest/api/1/myself`;

  it('lists each application once and revokes all of its tokens at once', async () => {
    const older = await link(wiki);
    // A second approval of the same application keeps the first token (several tokens per
    // application, as GitHub keeps one per device): still one row.
    const newer = await link(wiki);
    const knex = server.services.db.knex;
    const other = await link(tracker);

    const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/profile/authorized-apps`);

    const rows = page.locator('#grants tbody tr');
    expect(await rows.count()).toBe(2);
    const wikiRow = page.locator('#grants tr[data-app="wiki"]');
    expect(await textOf(wikiRow.locator('[data-label="Tokens"]'))).toBe('2');
    expect(await wikiRow.locator('[data-label="Authorized"] time').count()).toBe(2); // first and last
    expect(await textOf(page.locator('#grants tr[data-app="tracker"] [data-label="Tokens"]'))).toBe('1');
    await checkPage(page);
    await shot(page, 'authorized-apps-per-app');

    await wikiRow.getByRole('link', { name: 'Revoke wiki app…' }).click();
    expect(await textOf(page.locator('#confirm-message'))).toBe(
      'wiki app will no longer be able to act as you (all 2 of its tokens are revoked).',
    );
    // Cancel: nothing changed.
    await page.locator('#cancel').click();
    expect((await wiki.get(myself(), {}, older.token, older.secret)).status).toBe(200);
    expect((await wiki.get(myself(), {}, newer.token, newer.secret)).status).toBe(200);

    await wikiRow.getByRole('link', { name: 'Revoke wiki app…' }).click();
    await page.locator('#confirm').click();
    expect(await textOf(page.locator('#flash'))).toBe('Access revoked for wiki app.');
    expect(await rows.count()).toBe(1);
    expect(await page.locator('#grants tr[data-app="wiki"]').count()).toBe(0);
    const live = await knex('access_tokens as t')
      .join('consumers as c', 'c.id', 't.consumer_id')
      .where('c.consumer_key', 'wiki')
      .whereNull('t.revoked_at');
    expect(live).toEqual([]);
    expect((await wiki.get(myself(), {}, older.token, older.secret)).body).toContain('token_revoked');
    expect((await wiki.get(myself(), {}, newer.token, newer.secret)).body).toContain('token_revoked');
    expect((await tracker.get(myself(), {}, other.token, other.secret)).status).toBe(200);
    const [entry] = await knex('audit_events')
      .where({ event: 'access_token.revoked' })
      .orderBy('id', 'desc')
      .select<Array<{ detail: string }>>('detail');
    expect(JSON.parse(must(entry, 'the access_token.revoked entry').detail)).toMatchObject({ count: 2, by: 'user' });
    await ctx.close();
  });

  it("a user changes their own password; an administrator sets another user's", async () => {
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'dora');
    const ctx = await browser.newContext({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    const signIn = async (username: string, password: string) => {
      await page.goto(`${server.url}/login`);
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    };
    await signIn('dora', PASSWORD);
    await page.locator('#change-password').click();
    expect(await textOf(page.locator('h1'))).toBe('Change your password');
    await checkPage(page);
    const change = async (current: string, next: string, again = next) => {
      await page.getByLabel('Current password').fill(current);
      await page.getByLabel('New password', { exact: true }).fill(next);
      await page.getByLabel('New password again').fill(again);
      await page.getByRole('button', { name: 'Change password' }).click();
    };
    await change('not my password', 'a brand new password');
    expect(await textOf(page.locator('#error'))).toBe('the current password is not right');
    await change(PASSWORD, 'a brand new password', 'a different one!');
    expect(await textOf(page.locator('#error'))).toBe('The two new passwords differ.');
    await shot(page, 'password-error');
    await change(PASSWORD, 'a brand new password');
    expect(await textOf(page.locator('#flash'))).toBe('Your password is changed.');
    expect(await server.services.users.authenticate('dora', PASSWORD)).toBeNull();
    expect(await server.services.users.authenticate('dora', 'a brand new password')).not.toBeNull();

    // The administrator sets a new one (dora forgot hers).
    await page.locator('nav[aria-label="Main"] button').click();
    await signIn('root', PASSWORD);
    await page.goto(`${server.url}/admin/users`);
    await page.getByRole('link', { name: 'Set a password for dora…' }).click();
    expect(await textOf(page.locator('h1'))).toBe('Set a password for dora');
    await checkPage(page);
    await shot(page, 'admin-set-password');
    await page.getByLabel('New password', { exact: true }).fill('handed over safely');
    await page.getByLabel('New password again').fill('handed over safely');
    await page.getByRole('button', { name: 'Set password' }).click();
    expect(await textOf(page.locator('#flash'))).toBe(
      'The password of dora is set. Give it to them through a safe channel.',
    );
    // not for oneself: the profile page (with the current password) is the way
    expect(await page.getByRole('link', { name: 'Set a password for root…' }).count()).toBe(0);
    await page.locator('nav[aria-label="Main"] button').click();
    await signIn('dora', 'handed over safely');
    await page.waitForURL(`${server.url}/profile/authorized-apps`);
    const events = (await server.services.audits.list({ username: 'dora' })).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['user.password_changed']));
    const set = await server.services.audits.list({ event: 'user.password_set' });
    expect(set.map((e) => e.actor)).toEqual(['root']);
    await ctx.close();
  });
});
