// A signed API call on PostgreSQL costs at most two database round trips (credential
// lookup, nonce claim), counted at the pg client: every query the server sends is one
// round trip. Guards the hot path's shape against regressions (a third query, a knex
// query slipping into the path, a per-call transaction).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'pg';
import { seedConsumer, seedUser, startTestServer, type TestServer } from '../helpers/server';
import { approve, verifierFrom } from '../helpers/browser';
import { buildSignedRequest, signedFetch } from '../helpers/sign';
import { createTempPgDatabase, pgAvailable } from '../helpers/pg';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

const pgUp = await pgAvailable();

describe.runIf(pgUp)('PostgreSQL round trips per signed call', () => {
  let server: TestServer;
  let drop: (() => Promise<void>) | undefined;
  let creds: { consumerKey: string; consumerSecret: string; token: string; tokenSecret: string };
  const sent: string[] = [];
  // the method as pg defines it, put back exactly after the tests
  const original = must(Object.getOwnPropertyDescriptor(Client.prototype, 'query'), "pg's Client.prototype.query");
  const query = original.value as (this: Client, ...a: unknown[]) => unknown;

  beforeAll(async () => {
    const pg = await createTempPgDatabase();
    drop = () => pg.drop();
    server = await startTestServer({ APPLINK_DATABASE_URL: pg.url });
    await seedUser(server, 'alice');
    const c = await seedConsumer(server, 'rt-app');
    const consumerSecret = must(c.secret, 'the secret of consumer rt-app');
    const base = { consumerKey: c.key, consumerSecret, method: 'POST' };
    const rt = await signedFetch(`${server.url}/oauth/request-token`, { ...base, oauth: { oauth_callback: 'oob' } });
    const requestToken = credentialsOf(rt.params, 'request token');
    const verifier = await verifierFrom(await approve(server.url, requestToken.token, 'alice'));
    const at = await signedFetch(`${server.url}/oauth/access-token`, {
      ...base,
      token: requestToken.token,
      tokenSecret: requestToken.secret,
      oauth: { oauth_verifier: verifier },
    });
    expect(at.status, at.body).toBe(200);
    const accessToken = credentialsOf(at.params, 'access token');
    creds = { consumerKey: c.key, consumerSecret, token: accessToken.token, tokenSecret: accessToken.secret };
    // Count every query any pg client of this process sends from here on.
    Client.prototype.query = function (this: Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string } | null | undefined;
      sent.push(typeof q === 'string' ? q : (q?.text ?? '?'));
      return query.apply(this, args);
    } as typeof Client.prototype.query;
  });
  afterAll(async () => {
    Object.defineProperty(Client.prototype, 'query', original);
    // beforeAll may have stopped before the server started
    await (server as TestServer | undefined)?.stop();
    await drop?.();
  });

  const signed = () =>
    buildSignedRequest(`${server.url}/rest/api/1/myself`, {
      consumerKey: creds.consumerKey,
      consumerSecret: creds.consumerSecret,
      token: creds.token,
      tokenSecret: creds.tokenSecret,
    });

  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; queries: string[] }> {
    sent.length = 0;
    const result = await fn();
    return { result, queries: [...sent] };
  }

  it('takes two round trips, with and without the throttled last_used touch', async () => {
    for (const label of ['first call (touches last_used)', 'second call']) {
      const { result, queries } = await counted(async () => {
        const r = signed();
        const res = await fetch(r.url, r.init);
        return { status: res.status, body: await res.text() };
      });
      expect(result.status, `${label}: ${result.body}`).toBe(200);
      expect(queries, label).toHaveLength(2);
      expect(queries[0], label).toMatch(/FROM unnest/);
      expect(queries[1], label).toMatch(/INSERT INTO nonces/);
    }
  });

  it('takes two round trips to refuse a replay', async () => {
    const r = signed();
    expect((await fetch(r.url, r.init)).status).toBe(200);
    const { result, queries } = await counted(async () => (await fetch(r.url, r.init)).status);
    expect(result).toBe(401);
    expect(queries).toHaveLength(2);
  });

  it('takes at most two round trips per call when calls arrive together', async () => {
    const n = 16;
    const { result, queries } = await counted(() =>
      Promise.all(
        Array.from({ length: n }, async () => {
          const r = signed();
          return (await fetch(r.url, r.init)).status;
        }),
      ),
    );
    expect(result).toEqual(Array(n).fill(200));
    expect(queries.length).toBeGreaterThanOrEqual(2);
    expect(queries.length).toBeLessThanOrEqual(2 * n);
  });
});
