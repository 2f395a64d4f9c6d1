// The failure log in the admin console, on SQLite and PostgreSQL: real refused requests
// (clock skew, a proxy applink does not trust, a wrong secret, stale keys) appear on the
// consumer's page and on the unknown-keys page with the facts that explain them and a
// hint; nothing secret is shown; everything is escaped; administrators only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { browse, CookieJar, signIn } from '../helpers/browser';
import { signedFetch, type SignOptions } from '../helpers/sign';
import { must } from '../helpers/must';
import { clockDifference } from '../../src/http/failures';

describe('clockDifference', () => {
  it('says how far and which way, in the unit people read', () => {
    expect(clockDifference(0)).toBe('in step');
    expect(clockDifference(412)).toBe('6 min 52 s ahead');
    expect(clockDifference(-95)).toBe('95 s behind');
    expect(clockDifference(-3600)).toBe('60 min 0 s behind');
    expect(clockDifference(7300)).toBe('2 h 1 min ahead');
    expect(clockDifference(-3 * 86_400 - 5)).toBe('3 days behind');
  });
});

describe.each(await testDatabases())('refused requests in the admin console on %s', (database) => {
  let server: TestServer;
  let admin: CookieJar;
  let jira: { key: string; secret: string | null };
  let consumerId: number;
  const sent: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ database });
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'alice');
    jira = await seedConsumer(server, 'jira');
    await seedConsumer(server, 'quiet');
    consumerId = must(await server.services.consumers.findByKey('jira'), 'the jira consumer').id;
    admin = new CookieJar();
    expect((await signIn(server.url, admin, 'root')).status).toBe(302);
  });
  afterAll(() => (server as TestServer | undefined)?.stop());

  /** Jira's request-token step (form body), refused in the way `o` arranges. */
  const refused = async (o: Partial<SignOptions>) => {
    const r = await signedFetch(`${server.url}/plugins/servlet/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'jira',
      consumerSecret: jira.secret,
      oauth: { oauth_callback: 'https://jira.example.com/plugins/servlet/applinks/oauth/login-dance/access' },
      place: 'body',
      ...o,
    });
    expect(r.status).toBe(401);
    sent.push(r.body);
    return r;
  };
  const page = async (path: string) => {
    const res = await browse(admin, `${server.url}${path}`);
    expect(res.status, path).toBe(200);
    return res.text();
  };

  it('shows nothing before anything was refused', async () => {
    expect(await page(`/admin/consumers/${consumerId}`)).toContain('id="no-failures"');
    expect(await page('/admin/unknown-keys')).toContain('id="no-unknown-keys"');
  });

  it("lists a consumer's refused requests with the clock difference, both URLs and a hint", async () => {
    const now = Math.floor(Date.now() / 1000);
    const skew = await refused({
      oauth: {
        oauth_callback: 'https://jira.example.com/plugins/servlet/applinks/oauth/login-dance/access',
        oauth_timestamp: String(now + 1000),
      },
    });
    expect(skew.params.oauth_problem).toBe('timestamp_refused');
    const proxy = await refused({
      signedUrl: 'https://links.example.com/plugins/servlet/oauth/request-token',
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'links.example.com' },
    });
    expect(proxy.params.oauth_problem).toBe('signature_invalid');
    const wrongSecret = await refused({ consumerSecret: 'not-the-secret' });
    expect(wrongSecret.params.oauth_problem).toBe('signature_invalid');
    await server.services.failures.flush();

    const html = await page(`/admin/consumers/${consumerId}`);
    const rows = [...html.matchAll(/<tr data-failure="\d+" data-problem="([a-z_]+)">([\s\S]*?)<\/tr>/g)];
    expect(rows.map((r) => r[1])).toEqual(['signature_invalid', 'signature_invalid', 'timestamp_refused']);
    const [wrong, behindProxy, clock] = rows.map((r) => r[2]);

    expect(clock).toMatch(/Consumer's clock: <strong>16 min (39|40|41) s ahead<\/strong>/);
    expect(clock).toContain('POST /plugins/servlet/oauth/request-token');
    expect(clock).toContain('127.0.0.1');
    expect(clock).toContain('Synchronise the clocks');

    expect(behindProxy).toContain(`applink verified against: <code class="wrap-anywhere">${server.url}</code>`);
    expect(behindProxy).toContain(`the request reached: <code class="wrap-anywhere">${server.url}</code>`);
    expect(behindProxy).toContain('x-forwarded-proto: https; x-forwarded-host: links.example.com');
    expect(behindProxy).toContain('Set APPLINK_BASE_URL');

    expect(wrong).toContain('data-fact="verified"');
    expect(wrong).not.toContain('data-fact="forwarded"');
    expect(wrong).toContain('right consumer secret');

    // Nothing secret: no secret, signature, nonce or base string reached the page.
    expect(html).not.toContain(must(jira.secret, "jira's secret"));
    expect(html).not.toContain('not-the-secret');
    for (const body of sent) {
      const p = Object.fromEntries(new URLSearchParams(body));
      if (p.oauth_signature_base_string) expect(html).not.toContain(p.oauth_signature_base_string);
    }
    expect(html).not.toMatch(/oauth_signature=|oauth_nonce=/);
    // The other consumer's page lists none of them.
    const quiet = must(await server.services.consumers.findByKey('quiet'), 'the quiet consumer').id;
    expect(await page(`/admin/consumers/${quiet}`)).toContain('id="no-failures"');
  });

  it('merges identical refusals into one row with a count', async () => {
    for (let i = 0; i < 3; i++) await refused({ consumerSecret: 'not-the-secret' });
    await server.services.failures.flush();
    const html = await page(`/admin/consumers/${consumerId}`);
    expect(html).toMatch(/data-count="4">4 times since/);
  });

  it('lists unknown consumer keys on their own page, escaped', async () => {
    await refused({ consumerKey: 'old-jira' });
    await refused({ consumerKey: '<img/src=x/onerror=alert(1)>' });
    await refused({ consumerKey: `k${'x'.repeat(200)}` });
    await server.services.failures.flush();
    const html = await page('/admin/unknown-keys');
    expect(html).toContain('<code class="wrap-anywhere">old-jira</code>');
    expect(html).toContain('&lt;img/src=x/onerror=alert(1)&gt;');
    expect(html).not.toContain('<img/src');
    // a long key is shown cut to 64 characters
    expect(html).toContain(`<code class="wrap-anywhere">k${'x'.repeat(63)}</code>`);
    expect(html).toContain('consumer_key_unknown');
    expect(html).toContain('stale or mistyped consumer key');
    // and not on the known consumer's page
    expect(await page(`/admin/consumers/${consumerId}`)).not.toContain('old-jira');
  });

  it('is for administrators only', async () => {
    const alice = new CookieJar();
    expect((await signIn(server.url, alice, 'alice')).status).toBe(302);
    expect((await browse(alice, `${server.url}/admin/unknown-keys`)).status).toBe(403);
    const stranger = await browse(new CookieJar(), `${server.url}/admin/unknown-keys`);
    expect(stranger.status).toBe(302);
    expect(new URL(must(stranger.headers.get('location'), 'the redirect'), server.url).pathname).toBe('/login');
  });
});
