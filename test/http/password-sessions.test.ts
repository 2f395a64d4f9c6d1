// A password change ends the user's other sessions: their own change keeps the session it
// was made in, an administrator's change ends them all; on both databases. A session from
// before the change is refused on its very next page, and signing in with the new
// password works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { must } from '../helpers/must';
import { SIGN_IN_LIMITS } from '../../src/services/brakes';

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

  it('the current password asked for by a change is braked like a sign-in (the same pair)', async () => {
    const bob = await seedUser(server, 'bob');
    expect(bob.username).toBe('bob');
    const jar = new CookieJar();
    expect((await signIn(server.url, jar, 'bob')).status).toBe(302);
    const attempt = (currentPassword: string) =>
      submit(jar, '/profile/password', {
        currentPassword,
        newPassword: 'another new password',
        newPasswordAgain: 'another new password',
      });
    for (let i = 0; i < SIGN_IN_LIMITS.freeFailures; i++) {
      const wrong = await attempt(`guess ${i}`);
      expect(wrong.status, `guess ${i}`).toBe(400);
      expect(await wrong.text()).toContain('the current password is not right');
    }
    // then each further try waits twice as long as the one before (1 s, 2 s, ...): however
    // slow this machine is, a few more guesses run into the wait
    let status = 0;
    for (let i = 0; i < 4 && status !== 429; i++) status = (await attempt(`more ${i}`)).status;
    expect(status).toBe(429);
    const braked = await attempt(PASSWORD); // even the right one waits now
    expect(braked.status).toBe(429);
    expect(Number(braked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await braked.text()).toContain('Too many wrong passwords');
    // the same pair as the sign-in form: signing in as bob from here waits too
    const login = await signIn(server.url, new CookieJar(), 'bob');
    expect(login.status).toBe(429);
    // and the password was not changed
    expect(await signedIn(jar)).toBe(true);
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
