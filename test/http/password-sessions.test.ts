// A password change ends the user's other sessions: their own change keeps the session it
// was made in, an administrator's change ends them all; on both databases. A session from
// before the change is refused on its very next page, and signing in with the new
// password works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { must } from '../helpers/must';

const APPS = '/profile/authorized-apps';

describe.each(await testDatabases())('a password change ends other sessions, on %s', (database) => {
  let server: TestServer;
  let aliceId: number;
  let adminJar: CookieJar;

  beforeAll(async () => {
    server = await startTestServer({ database });
    await seedUser(server, 'root', { admin: true });
    aliceId = (await seedUser(server, 'alice')).id;
    adminJar = new CookieJar();
    expect((await signIn(server.url, adminJar, 'root')).status).toBe(302);
  });
  afterAll(() => server.stop());

  const signedIn = async (jar: CookieJar) => (await browse(jar, `${server.url}${APPS}`)).status === 200;
  const session = async (password: string) => {
    const jar = new CookieJar();
    const res = await signIn(server.url, jar, 'alice', undefined, password);
    expect(res.status, `sign-in with ${password}`).toBe(302);
    expect(await signedIn(jar)).toBe(true);
    return jar;
  };
  const submit = async (jar: CookieJar, path: string, fields: Record<string, string>) => {
    const page = await browse(jar, `${server.url}${path}`);
    expect(page.status, path).toBe(200);
    return browse(jar, `${server.url}${path}`, form({ _csrf: csrfOf(await page.text()), ...fields }));
  };

  it('their own change keeps this session and ends the others', async () => {
    const here = await session(PASSWORD);
    const elsewhere = await session(PASSWORD);
    const res = await submit(here, '/profile/password', {
      currentPassword: PASSWORD,
      newPassword: 'a brand new password',
      newPasswordAgain: 'a brand new password',
    });
    expect(res.status).toBe(302);
    expect(await signedIn(here)).toBe(true);
    expect(await signedIn(elsewhere)).toBe(false);
    // ...and stays signed out (the refused session is not revived by a later page)
    const again = await browse(elsewhere, `${server.url}${APPS}`);
    expect(again.status).toBe(302);
    expect(must(again.headers.get('location'), 'the redirect')).toContain('/login');
    // the old password is gone, the new one signs in
    expect((await signIn(server.url, new CookieJar(), 'alice', undefined, PASSWORD)).status).not.toBe(302);
    await session('a brand new password');
  });

  it("an administrator's change ends every session of that user, not the administrator's", async () => {
    const one = await session('a brand new password');
    const two = await session('a brand new password');
    const res = await submit(adminJar, `/admin/users/${aliceId}/password`, {
      newPassword: 'set by the admin',
      newPasswordAgain: 'set by the admin',
    });
    expect(res.status).toBe(302);
    expect(await signedIn(one)).toBe(false);
    expect(await signedIn(two)).toBe(false);
    expect(await signedIn(adminJar)).toBe(true);
    await session('set by the admin');
  });
});
