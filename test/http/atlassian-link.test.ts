// The link helper on a consumer's admin page: the values to paste into Jira's "Generic
// Application" link, on the public base URL (with its path), and what the registered
// callback means for Jira's callback. The presenter alone, then the page over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATLASSIAN_CALLBACK_PATH, atlassianLink, callbackState } from '../../src/http/atlassian-link';
import type { ConsumerSummary } from '../../src/db/consumers';
import { seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { browse, CookieJar, signIn } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { must } from '../helpers/must';

const consumer = (over: Partial<ConsumerSummary> = {}): ConsumerSummary => ({
  id: 1,
  key: 'jira-prod',
  name: 'Jira',
  description: '',
  callbackUrl: null,
  hasSecret: true,
  hasPublicKey: false,
  disabled: false,
  createdAt: 0,
  ...over,
});

describe('the link helper presenter', () => {
  it('gives the three Atlassian endpoint URLs on the public base URL, and the consumer key', () => {
    const link = atlassianLink('https://links.example.com/applink', consumer(), false);
    const value = (id: string) => link.fields.find((f) => f.id === id)?.value;
    expect(link.applicationUrl).toBe('https://links.example.com/applink');
    expect(value('atl-consumer-key')).toBe('jira-prod');
    expect(value('atl-request-token-url')).toBe(
      'https://links.example.com/applink/plugins/servlet/oauth/request-token',
    );
    expect(value('atl-access-token-url')).toBe('https://links.example.com/applink/plugins/servlet/oauth/access-token');
    expect(value('atl-authorize-url')).toBe('https://links.example.com/applink/plugins/servlet/oauth/authorize');
    expect(value('atl-signature-method')).toBe('HMAC-SHA1');
    expect(value('atl-application-type')).toBe('Generic Application');
    // the secret is never a value to show
    expect(value('atl-shared-secret')).toBeNull();
    expect(link.fields.map((f) => f.label)).toEqual([
      'Application Name',
      'Application Type',
      'Service Provider Name',
      'Consumer key',
      'Shared secret',
      'Request Token URL',
      'Access token URL',
      'Authorize URL',
      'Signature method',
      'Create incoming link',
    ]);
    expect(link.hasSecret).toBe(true);
    expect(atlassianLink('https://x.example', consumer({ hasSecret: false }), true)).toMatchObject({
      hasSecret: false,
      derivedBaseUrl: true,
    });
  });

  it("tells whether the registered callback lets Jira's through", () => {
    expect(callbackState(null)).toEqual({ kind: 'none' });
    expect(callbackState(`https://jira.example.com${ATLASSIAN_CALLBACK_PATH}`)).toEqual({
      kind: 'atlassian',
      registered: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}`,
      product: 'https://jira.example.com',
    });
    // a context path, a port, a trailing slash
    expect(callbackState(`https://example.com:8443/jira${ATLASSIAN_CALLBACK_PATH}/`)).toMatchObject({
      kind: 'atlassian',
      product: 'https://example.com:8443/jira',
    });
    expect(callbackState('https://wiki.example.com/oauth/callback')).toMatchObject({ kind: 'other' });
    expect(callbackState('https://jira.example.com/plugins/servlet/applinks')).toMatchObject({ kind: 'other' });
  });
});

describe.each([
  ['behind a base URL with a path', { APPLINK_BASE_URL: 'https://links.example.com/applink' }, '/applink'],
  ['without a base URL', {}, ''],
] as const)('the link helper on the consumer page, %s', (_name, env, prefix) => {
  let server: TestServer;
  let admin: CookieJar;
  beforeAll(async () => {
    server = await startTestServer({ ...env });
    await seedUser(server, 'root', { admin: true });
    admin = new CookieJar();
    expect((await signIn(`${server.url}${prefix}`, admin, 'root')).status).toBe(302);
  });
  afterAll(() => server.stop());

  const pageOf = async (key: string) => {
    const c = must(await server.services.consumers.findByKey(key), `the consumer ${key}`);
    const res = await browse(admin, `${server.url}${prefix}/admin/consumers/${c.id}`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const valueOf = (html: string, id: string) =>
    new RegExp(`id="${id}" class="copy" readonly value="([^"]*)"`).exec(html)?.[1];

  it('shows the values to paste, on the public URL, and never the secret', async () => {
    const { secret } = await seedConsumer(server, 'jira-prod', {
      callbackUrl: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}`,
    });
    const html = await pageOf('jira-prod');
    const root = prefix ? 'https://links.example.com/applink' : server.url;
    expect(valueOf(html, 'atl-application-url')).toBe(root);
    expect(valueOf(html, 'atl-consumer-key')).toBe('jira-prod');
    expect(valueOf(html, 'atl-request-token-url')).toBe(`${root}/plugins/servlet/oauth/request-token`);
    expect(valueOf(html, 'atl-access-token-url')).toBe(`${root}/plugins/servlet/oauth/access-token`);
    expect(valueOf(html, 'atl-authorize-url')).toBe(`${root}/plugins/servlet/oauth/authorize`);
    expect(valueOf(html, 'atl-signature-method')).toBe('HMAC-SHA1');
    expect(html).toContain('id="atl-callback-state"');
    expect(html).toContain(
      `Registered: Jira's callback at <code class="wrap-anywhere">https://jira.example.com</code>`,
    );
    expect(html).not.toContain(must(secret, "jira-prod's secret"));
    // The warning about a derived base URL only when APPLINK_BASE_URL is unset.
    expect(html.includes('id="atl-derived"')).toBe(!prefix);
  });

  it('the pasted URLs are the ones that work: a request token at the shown URL verifies', async () => {
    if (prefix) return; // the shown host is links.example.com: signing for it is the base-url suite's job
    const { secret } = await seedConsumer(server, 'jira-test');
    const html = await pageOf('jira-test');
    const url = must(valueOf(html, 'atl-request-token-url'), 'the request token URL on the page');
    const r = await signedFetch(url, {
      method: 'POST',
      consumerKey: must(valueOf(html, 'atl-consumer-key'), 'the consumer key on the page'),
      consumerSecret: must(secret, "jira-test's secret"),
      oauth: { oauth_callback: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}?applicationLinkID=1` },
      place: 'body',
    });
    expect(r.status, r.body).toBe(200);
    expect(html).toContain('No callback registered');
  });

  it("warns when the registered callback is not Jira's", async () => {
    await seedConsumer(server, 'other-cb', { callbackUrl: 'https://wiki.example.com/cb' });
    const html = await pageOf('other-cb');
    expect(html).toContain('is not a Jira or Confluence callback');
    expect(html).toContain('https://wiki.example.com/cb');
  });
});
