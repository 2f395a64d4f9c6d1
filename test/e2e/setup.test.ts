// First run in real Chromium: no admin yet, the operator reads the one-time code from the
// server log, creates the first admin at /setup, and /setup is gone afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server';
import { checkPage, chromiumAvailable, launchChromium, shot, textOf } from '../helpers/chromium';
import { must } from '../helpers/must';

const run = chromiumAvailable();

describe.runIf(run)('first-run setup in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    server = await startTestServer({}, { logs });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await (browser as Browser | undefined)?.close();
    await (server as TestServer | undefined)?.stop();
  });

  it('creates the first admin with the code from the log; then /setup is gone', async () => {
    const line = logs.find((l) => typeof l.setupCode === 'string');
    expect(line, 'the setup code is in the log').toBeDefined();
    const logged = must(line, 'the log line with the setup code');
    expect(logged.level).toBe(40); // warn: visible at the default level
    expect(logged.msg).toMatch(/FIRST RUN.*one-time setup code .*operator credential/);
    expect(logged.setupUrl).toBe(`${server.url}/setup`);
    const code = logged.setupCode as string;
    expect(code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);

    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(server.url);
    expect(new URL(page.url()).pathname).toBe('/setup');
    await checkPage(page);
    await shot(page, 'setup');

    const fill = async (setupCode: string) => {
      await page.getByLabel('Setup code').fill(setupCode);
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Email').fill('admin@example.com');
      await page.getByLabel('Display name (optional)').fill('The Admin');
      await page.getByLabel('Password', { exact: true }).fill('a long admin password');
      await page.getByLabel('Password again').fill('a long admin password');
      await page.getByRole('button', { name: 'Create administrator' }).click();
    };

    await fill('AAAA-AAAA-AAAA');
    expect(await textOf(page.locator('#error'))).toBe('That setup code is not right. Copy it from the server log.');
    expect(await server.services.users.list()).toEqual([]);
    await shot(page, 'setup-wrong-code');

    await fill(code.toLowerCase().replace(/-/g, ' ')); // case and separators do not matter
    await page.waitForURL(`${server.url}/admin`);
    expect(await textOf(page.locator('#flash'))).toContain('You are the first administrator');
    await checkPage(page);
    await shot(page, 'admin-overview');
    const admin = await server.services.users.findByUsername('admin');
    expect(admin).toMatchObject({ isAdmin: true, email: 'admin@example.com', displayName: 'The Admin' });
    expect(
      must((await server.services.audits.list({ event: 'setup.completed' }))[0], 'the setup.completed entry').actor,
    ).toBe('admin');
    expect((await server.services.audits.list({ event: 'setup.failed' })).length).toBe(1);

    const gone = await page.goto(`${server.url}/setup`);
    expect(must(gone, 'the response to /setup').status()).toBe(404);
    expect(await textOf(page.locator('h1'))).toBe('Not found');
    await shot(page, 'not-found');
    const root = await page.goto(server.url);
    expect(new URL(must(root, 'the response to /').url()).pathname).toBe('/profile/authorized-apps');
    // The same code can never create another admin: /setup answers 404 to the POST too.
    const again = await page.request.post(`${server.url}/setup`, {
      form: { setupCode: code, username: 'x', email: 'x@example.com', password: '12345678', passwordAgain: '12345678' },
      maxRedirects: 0,
    });
    expect(again.status()).toBe(404);
    expect(await server.services.users.findByUsername('x')).toBeNull();
    await ctx.close();
  });
});
