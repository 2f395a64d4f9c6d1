// Admin audit filters are text typed by a person: NUL bytes and other control characters
// are refused at the boundary (400), never sent to the database (no 500 on either).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, signIn } from '../helpers/browser';

describe.each(await testDatabases())('audit filters on %s', (database) => {
  let s: TestServer;
  const jar = new CookieJar();
  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'root', { admin: true });
    expect((await signIn(s.url, jar, 'root')).status).toBe(302);
  });
  afterAll(() => s.stop());

  it.each(['event', 'user', 'consumer'])('a NUL in %s is a 400, not a 500', async (field) => {
    for (const v of ['\u0000', 'login\u0000.failed', '\u0007', 'x\u202e']) {
      const res = await browse(jar, `${s.url}/admin/audit?${field}=${encodeURIComponent(v)}`);
      expect(res.status, `${field}=${JSON.stringify(v)}`).toBe(400);
    }
  });

  it.each(['from', 'to'])('a NUL in %s is no date: the filter is dropped', async (field) => {
    const res = await browse(jar, `${s.url}/admin/audit?${field}=${encodeURIComponent('2026-01-01\u0000')}`);
    expect(res.status).toBe(200);
  });
});
