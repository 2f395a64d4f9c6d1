// A real Chromium approves an app link behind a (simulated) identity-aware proxy: the
// proxy's assertion rides on every request as a header, and no password is ever typed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium';
import { must } from '../helpers/must';
import { seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { oauth1aClient } from '../helpers/clients';
import { assertion, KeySetServer, signingKey, ssoEnv, type SigningKey } from '../helpers/sso';

let server: TestServer;
let keys: KeySetServer;
let key: SigningKey;
let browser: Browser;
let callback: Server;
const callbacks: URL[] = [];

beforeAll(async () => {
  key = await signingKey('proxy-1');
  keys = await KeySetServer.start([key]);
  server = await startTestServer(ssoEnv(keys.url, { APPLINK_LOGIN_FORM: 'off' }));
  await seedUser(server, 'alice');
  callback = createServer((req, res) => {
    const url = new URL(must(req.url, 'the URL of the callback request'), 'http://callback.test');
    if (url.pathname === '/linked') callbacks.push(url);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<p id="linked">linked</p>');
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
});
// beforeAll may have stopped before any of these started
afterAll(async () => {
  await (browser as Browser | undefined)?.close();
  await new Promise<void>((r) => callback.close(() => r()));
  await (server as TestServer | undefined)?.stop();
  await (keys as KeySetServer | undefined)?.close();
});

describe('SSO in a real browser', () => {
  it('approves a link with the proxy header and no password typed', async () => {
    const { secret } = await seedConsumer(server, 'wiki');
    const client = oauth1aClient({ base: server.url, key: 'wiki', secret, privateKey: '', method: 'HMAC-SHA1' });
    const cbUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/linked`;
    const rt = await client.requestToken(cbUrl);

    const context = await browser.newContext();
    try {
      await context.setExtraHTTPHeaders({
        'Cf-Access-Jwt-Assertion': await assertion(key, { email: 'alice@example.com' }),
      });
      const page = await context.newPage();
      await page.goto(`${server.url}/oauth/authorize?oauth_token=${encodeURIComponent(rt.token)}`);
      expect(new URL(page.url()).pathname).toBe('/oauth/authorize');
      expect(await page.locator('input[type="password"]').count()).toBe(0);
      await expect.poll(() => page.textContent('body')).toContain('alice');
      await Promise.all([page.waitForURL(`${cbUrl}**`), page.click('#allow')]);
      expect(await page.textContent('#linked')).toBe('linked');
    } finally {
      await context.close();
    }

    const back = must(callbacks.at(-1), 'the callback the browser was sent to');
    expect(back.searchParams.get('oauth_token')).toBe(rt.token);
    const verifier = must(back.searchParams.get('oauth_verifier'), 'the verifier on the callback');
    const at = await client.accessToken(rt.token, rt.secret, verifier);
    const me = await client.get(`${server.url}/rest/api/1/myself`, {}, at.token, at.secret);
    expect(JSON.parse(me.body)).toMatchObject({ username: 'alice' });
    const [login] = await server.services.audits.list({ event: 'sso.login', limit: 1 });
    expect(login?.actor).toBe('alice');
  });
});
