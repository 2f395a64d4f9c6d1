// Atlassian's "manage your tokens" address: after every successful dance Jira and
// Confluence link their users to <provider>/plugins/servlet/oauth/users/access-tokens.
// It leads a signed-in user to the authorized-apps page, and anyone else through sign-in
// (coming back to that page), with or without a trailing slash and under a base path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import { browse, CookieJar, signIn } from '../helpers/browser';
import { must } from '../helpers/must';

const PATH = '/plugins/servlet/oauth/users/access-tokens';

describe.each([
  ['at the root', {}, ''],
  ['under a base path', { APPLINK_BASE_URL: 'https://links.example.com/applink' }, '/applink'],
] as const)('%s', (_name, env, prefix) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ ...env });
    await seedUser(server, 'alice');
  });
  afterAll(() => server.stop());

  const home = `${prefix}/profile/authorized-apps`;
  const variants = [PATH, `${PATH}/`, `${PATH}?applicationLinkID=1234`, PATH.toUpperCase()];

  it('sends a stranger through sign-in, then to the authorized-apps page', async () => {
    for (const path of variants) {
      const jar = new CookieJar();
      const res = await browse(jar, `${server.url}${prefix}${path}`);
      expect(res.status, path).toBe(302);
      const to = new URL(must(res.headers.get('location'), 'the redirect'), server.url);
      expect(to.pathname, path).toBe(`${prefix}/login`);
      expect(to.searchParams.get('next'), path).toBe(home);
      // Signing in on that page comes back to the authorized-apps page.
      const login = await browse(jar, `${server.url}${to.pathname}${to.search}`);
      expect(login.status).toBe(200);
      expect(await login.text()).toContain(`name="next" value="${home}"`);
      const done = await signIn(`${server.url}${prefix}`, jar, 'alice', home);
      expect(done.status).toBe(302);
      expect(done.headers.get('location')).toBe(home);
      const page = await browse(jar, `${server.url}${home}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Authorized applications');
    }
  });

  it('sends a signed-in user straight to the authorized-apps page', async () => {
    const jar = new CookieJar();
    expect((await signIn(`${server.url}${prefix}`, jar, 'alice')).status).toBe(302);
    for (const path of variants) {
      const res = await browse(jar, `${server.url}${prefix}${path}`);
      expect(res.status, path).toBe(302);
      expect(res.headers.get('location'), path).toBe(home);
      // a page: never cached, not frameable
      expect(res.headers.get('cache-control'), path).toBe('no-store');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    }
    // HEAD too (link checkers); anything under it or another method is not a page here
    expect((await browse(jar, `${server.url}${prefix}${PATH}`, { method: 'HEAD' })).status).toBe(302);
    expect((await browse(jar, `${server.url}${prefix}${PATH}/extra`)).status).toBe(404);
    expect((await browse(jar, `${server.url}${prefix}${PATH}`, { method: 'POST' })).status).toBe(404);
  });

  if (prefix) {
    it('is not served outside the base path', async () => {
      expect((await browse(new CookieJar(), `${server.url}${PATH}`)).status).toBe(404);
    });
  }
});
