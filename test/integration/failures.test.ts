// Recent refused requests per consumer over HTTP, on SQLite and PostgreSQL: what is kept
// for the two problems behind most broken links (clock skew; the URL a proxy changed),
// unknown keys in their own list, nothing secret stored, bounded under a flood, and
// nothing at all recorded for an accepted call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { approve, verifierFrom } from '../helpers/browser';
import { buildSignedRequest, signedFetch, type SignOptions } from '../helpers/sign';
import { FAILURE_LOG_DEFAULTS, recentFailures, unknownKeys } from '../../src/db/failure-log';
import { capture } from '../helpers/capture';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

describe.each(await testDatabases())('failure log over HTTP on %s', (database) => {
  let s: TestServer;
  let c: { key: string; secret: string | null };
  let consumerId: number;
  let at: { token: string; secret: string };

  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'alice');
    c = await seedConsumer(s, 'jira');
    consumerId = must<{ id: number }>(
      await s.services.db.knex('consumers').where({ consumer_key: 'jira' }).first('id'),
      'consumer jira',
    ).id;
    const rt = await signedFetch(`${s.url}/oauth/request-token`, {
      consumerKey: c.key,
      consumerSecret: c.secret,
      method: 'POST',
      oauth: { oauth_callback: 'oob' },
    });
    const requestToken = credentialsOf(rt.params, 'request token');
    const verifier = await verifierFrom(await approve(s.url, requestToken.token, 'alice'));
    const r = await signedFetch(`${s.url}/oauth/access-token`, {
      consumerKey: c.key,
      consumerSecret: c.secret,
      method: 'POST',
      token: requestToken.token,
      tokenSecret: requestToken.secret,
      oauth: { oauth_verifier: verifier },
    });
    at = credentialsOf(r.params, 'access token');
    await s.services.failures.flush();
    await s.services.db.knex('consumer_failures').delete();
  });
  afterAll(() => s.stop());

  const knex = () => s.services.db.knex;
  const myself = (extra: Partial<SignOptions> = {}) =>
    signedFetch(`${s.url}/rest/api/1/myself?q=secret-query`, {
      consumerKey: c.key,
      consumerSecret: c.secret,
      token: at.token,
      tokenSecret: at.secret,
      query: [['q', 'secret-query']],
      ...extra,
    });

  it('timestamp_refused: the clock difference and a hint', async () => {
    const r = await myself({ oauth: { oauth_timestamp: String(Math.floor(Date.now() / 1000) - 3600) } });
    expect(r.status).toBe(401);
    await s.services.failures.flush();
    const f = must((await recentFailures(knex(), consumerId))[0], 'the recorded failure');
    expect(f).toMatchObject({ problem: 'timestamp_refused', method: 'GET', path: '/rest/api/1/myself', count: 1 });
    expect(f.clockSkew).toBeLessThanOrEqual(-3599);
    expect(f.clockSkew).toBeGreaterThanOrEqual(-3605);
    expect(f.hint).toMatch(/^The consumer's clock is 36\d\d s behind this server's \(accepted: 300 s either way\)/);
    expect(f.ip).toMatch(/127\.0\.0\.1/);
  });

  it('signature_invalid behind a proxy applink does not trust: both URLs and what to set', async () => {
    const r = await myself({
      signedUrl: 'https://links.example.com/rest/api/1/myself',
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'links.example.com' },
    });
    expect(r.status).toBe(401);
    await s.services.failures.flush();
    const f = must((await recentFailures(knex(), consumerId))[0], 'the recorded failure');
    expect(f).toMatchObject({
      problem: 'signature_invalid',
      serverUrl: s.url,
      reachedUrl: s.url,
      forwarded: 'x-forwarded-proto: https; x-forwarded-host: links.example.com',
    });
    expect(f.hint).toContain('Set APPLINK_BASE_URL');
  });

  it('unknown consumer keys go to their own list', async () => {
    const r = await signedFetch(`${s.url}/oauth/request-token`, {
      consumerKey: 'jira-old-link',
      consumerSecret: 'x',
      method: 'POST',
      oauth: { oauth_callback: 'oob' },
    });
    expect(r.status).toBe(401);
    await s.services.failures.flush();
    expect((await unknownKeys(knex()))[0]).toMatchObject({
      consumerKey: 'jira-old-link',
      problem: 'consumer_key_unknown',
      path: '/oauth/request-token',
    });
  });

  it('stores nothing secret: no signature, token, nonce, query or base string', async () => {
    const sent: string[] = [];
    const cases: Array<Partial<SignOptions>> = [
      { tokenSecret: 'wrong' },
      { oauth: { oauth_timestamp: '1' } },
      { oauth: { oauth_nonce: 'my-very-own-nonce' } },
    ];
    for (const extra of cases) {
      const req = buildSignedRequest(`${s.url}/rest/api/1/myself?q=secret-query`, {
        consumerKey: c.key,
        consumerSecret: c.secret,
        token: at.token,
        tokenSecret: at.secret,
        query: [['q', 'secret-query']],
        ...extra,
      });
      const auth = must((req.init.headers as Record<string, string>).authorization, 'the Authorization header');
      sent.push(
        decodeURIComponent(capture(/oauth_signature="([^"]+)"/, auth, 'oauth_signature in the header')),
        capture(/oauth_nonce="([^"]+)"/, auth, 'oauth_nonce in the header'),
      );
      const res = await fetch(req.url, req.init);
      if (extra.oauth?.oauth_nonce) expect((await fetch(req.url, req.init)).status).toBe(401); // nonce_used
      expect(res.status).toBeGreaterThanOrEqual(200);
    }
    await s.services.failures.flush();
    const stored = JSON.stringify(await knex()('consumer_failures').select());
    expect(stored).toContain('signature_invalid');
    expect(sent).toHaveLength(6);
    for (const secret of [
      at.token,
      at.secret,
      must(c.secret, 'the consumer secret'),
      'secret-query',
      'my-very-own-nonce',
      ...sent,
    ]) {
      expect(stored).not.toContain(secret);
    }
    expect(stored).not.toContain('GET&http');
  });

  it('accepted calls record nothing; a flood from one consumer stays bounded', async () => {
    const record = s.services.failures.record.bind(s.services.failures);
    let recorded = 0;
    s.services.failures.record = (r) => {
      recorded++;
      record(r);
    };
    try {
      for (let i = 0; i < 20; i++) expect((await myself()).status).toBe(200);
      expect(recorded).toBe(0);
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            myself({ signedUrl: `${s.url}/rest/api/1/other-${round}-${i}`, consumerSecret: 'wrong' }),
          ),
        );
        await s.services.failures.flush();
      }
      expect(recorded).toBe(160);
      const rows = await knex()('consumer_failures').where({ consumer_id: consumerId });
      expect(rows.length).toBeLessThanOrEqual(FAILURE_LOG_DEFAULTS.keep);
      // identical refusals (same problem, address, path): one row with their count
      const merged = (await recentFailures(knex(), consumerId)).find((f) => f.problem === 'signature_invalid');
      expect(must(merged, 'the merged signature_invalid row').count).toBeGreaterThanOrEqual(160);
    } finally {
      s.services.failures.record = record;
    }
  });
});
