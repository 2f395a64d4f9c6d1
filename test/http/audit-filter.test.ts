// Admin audit filters are text typed by a person: NUL bytes and other control characters
// are refused at the boundary (400), never sent to the database (no 500 on either).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, signIn } from '../helpers/browser';
import { capture } from '../helpers/capture';

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

  /** The events a page lists, in order (data-event of each row). */
  const listed = (html: string) => [...html.matchAll(/<tr data-event="([^"]*)">/g)].map((m) => m[1]);
  /** What the page echoes in the filter's date field. */
  const echoed = (html: string, field: string) =>
    capture(new RegExp(`id="${field}" name="${field}" type="date" value="([^"]*)"`), html, `the ${field} field`);

  // Each date, were it kept, would leave no entry at all: the sign-in above is after 2000
  // and before 2999.
  it.each([
    ['from', '2999-01-01'],
    ['to', '2000-01-01'],
  ])('a NUL in %s is no date: the filter is dropped', async (field, day) => {
    const unfiltered = await (await browse(jar, `${s.url}/admin/audit`)).text();
    expect(listed(unfiltered).length).toBeGreaterThan(0);
    const kept = await (await browse(jar, `${s.url}/admin/audit?${field}=${day}`)).text();
    expect(listed(kept)).toEqual([]);
    expect(echoed(kept, field)).toBe(day);
    for (const v of ['2026-01-01\u0000', `${day}\u0000`, `\u0000${day}`]) {
      const res = await browse(jar, `${s.url}/admin/audit?${field}=${encodeURIComponent(v)}`);
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(echoed(html, field), JSON.stringify(v)).toBe('');
      expect(listed(html), JSON.stringify(v)).toEqual(listed(unfiltered));
    }
  });
});
