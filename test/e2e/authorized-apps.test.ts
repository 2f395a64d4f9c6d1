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
    await browser?.close();
    await server?.stop();
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
    const [entry] = await knex('audit_events').where({ event: 'access_token.revoked' }).orderBy('id', 'desc');
    expect(JSON.parse(entry.detail as string)).toMatchObject({ count: 2, by: 'user' });
    await ctx.close();
  });
});
