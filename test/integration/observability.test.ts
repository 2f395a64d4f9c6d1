// What operators see of a full dance (with a wrong password, a wrong verifier, a bad
// signature, a denial and a revocation): structured pino logs that hold no token, secret,
// verifier, password or session id; Prometheus metrics at /metrics; and an audit log
// entry, with actor, consumer, time and address, for every event SPEC names.
import { Writable } from 'node:stream';
import { OPERATOR } from '../../src/services/actor';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startServer, type RunningServer } from '../../src/server';
import { hashToken } from '../../src/oauth1/tokens';
import { PASSWORD } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { capture } from '../helpers/capture';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

const dir = mkdtempSync(join(tmpdir(), 'applink-obs-'));
const env = {
  APPLINK_PORT: '0',
  APPLINK_HOST: '127.0.0.1',
  APPLINK_DATABASE_URL: `sqlite:${join(dir, 'applink.sqlite')}`,
  APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
  APPLINK_LOG_LEVEL: 'trace',
};
const lines: string[] = [];
let s: RunningServer;
/** every secret value the dance handled */
const secrets: Record<string, string> = {};
let grantId = 0;

beforeAll(async () => {
  const config = loadConfig(env);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  s = await startServer(config, createLogger(config, sink));
  await s.services.users.create(OPERATOR, { username: 'alice', email: 'alice@example.com', password: PASSWORD });
  const c = await s.services.consumers.create(OPERATOR, { key: 'obs', name: 'Observed app' });
  await runDance(s.url, must(c.secret, 'the secret of consumer obs'));
});
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function runDance(base: string, consumerSecret: string) {
  secrets.consumerSecret = consumerSecret;
  secrets.masterKey = env.APPLINK_SECRET_KEY;
  secrets.password = PASSWORD;
  secrets.wrongPassword = 'wrong-password-4711';
  secrets.wrongVerifier = 'wrongverifier4711';
  secrets.callbackState = 'cb-state-4711';
  const asConsumer = { consumerKey: 'obs', consumerSecret, method: 'POST' };

  const rt = await signedFetch(`${base}/oauth/request-token`, {
    ...asConsumer,
    oauth: { oauth_callback: `https://app.example/cb?state=${secrets.callbackState}` },
  });
  expect(rt.status).toBe(200);
  const requestToken = credentialsOf(rt.params, 'request token');
  secrets.requestToken = requestToken.token;
  secrets.requestTokenSecret = requestToken.secret;

  const stranger = new CookieJar();
  expect((await signIn(base, stranger, 'alice', undefined, secrets.wrongPassword)).status).toBe(401);

  const jar = new CookieJar();
  const authorize = `/oauth/authorize?oauth_token=${encodeURIComponent(secrets.requestToken)}`;
  expect((await browse(jar, `${base}${authorize}`)).status).toBe(302);
  expect((await signIn(base, jar, 'alice', authorize)).status).toBe(302);
  secrets.sessionId = decodeURIComponent(
    capture(/applink\.sid=s:([^.;]+)/, decodeURIComponent(jar.header()), 'the session id in the cookie'),
  );
  secrets.sessionCookie = must(jar.header().split('=')[1], 'the session cookie value');
  const consent = await browse(jar, `${base}${authorize}`);
  secrets.csrf = csrfOf(await consent.text());
  const allowed = await browse(
    jar,
    `${base}/oauth/authorize`,
    form({ _csrf: secrets.csrf, oauth_token: secrets.requestToken, decision: 'allow' }),
  );
  expect(allowed.status).toBe(302);
  secrets.verifier = must(
    new URL(must(allowed.headers.get('location'), 'the callback redirect')).searchParams.get('oauth_verifier'),
    'the verifier in the callback',
  );

  const exchange = (verifier: string) =>
    signedFetch(`${base}/oauth/access-token`, {
      ...asConsumer,
      token: secrets.requestToken,
      tokenSecret: secrets.requestTokenSecret,
      oauth: { oauth_verifier: verifier },
    });
  expect((await exchange(secrets.wrongVerifier)).params.oauth_problem).toBe('verifier_invalid');
  const at = await exchange(secrets.verifier);
  expect(at.status).toBe(200);
  const accessToken = credentialsOf(at.params, 'access token');
  secrets.accessToken = accessToken.token;
  secrets.accessTokenSecret = accessToken.secret;
  secrets.accessTokenHash = hashToken(secrets.accessToken);

  const asToken = { ...asConsumer, token: secrets.accessToken, tokenSecret: secrets.accessTokenSecret };
  const api = `${base}/rest/api/1/myself`;
  expect((await signedFetch(api, { ...asToken, method: 'GET', query: [['q', 'x']] })).status).toBe(200);
  expect((await signedFetch(api, { ...asToken, form: [['displayName', 'Alice Observed']] })).status).toBe(200);
  const forged = await signedFetch(api, { ...asToken, method: 'GET', signatureOverride: 'Zm9yZ2Vk' });
  expect(forged.params.oauth_problem).toBe('signature_invalid');

  // a second link, denied
  const rt2 = await signedFetch(`${base}/oauth/request-token`, { ...asConsumer, oauth: { oauth_callback: 'oob' } });
  const requestToken2 = credentialsOf(rt2.params, 'second request token');
  secrets.requestToken2 = requestToken2.token;
  secrets.requestTokenSecret2 = requestToken2.secret;
  const consent2 = await browse(
    jar,
    `${base}/oauth/authorize?oauth_token=${encodeURIComponent(secrets.requestToken2)}`,
  );
  const denied = await browse(
    jar,
    `${base}/oauth/authorize`,
    form({ _csrf: csrfOf(await consent2.text()), oauth_token: secrets.requestToken2, decision: 'deny' }),
  );
  expect(denied.status).toBe(200);

  // revoke from the profile page, then the token is dead
  grantId = must((await s.services.grants.list({ username: 'alice' }))[0], "alice's grant").id;
  const apps = await browse(jar, `${base}/profile/authorized-apps`);
  const revoked = await browse(
    jar,
    `${base}/profile/authorized-apps/${grantId}/revoke`,
    form({ _csrf: csrfOf(await apps.text()) }),
  );
  expect(revoked.status).toBe(302);
  expect((await signedFetch(api, { ...asToken, method: 'GET' })).params.oauth_problem).toBe('token_revoked');

  // tokens in the query of unknown paths
  for (const p of ['/nothere/1', '/nothere/2']) {
    expect((await fetch(`${base}${p}?oauth_token=${secrets.accessToken}`)).status).toBe(404);
  }
}

const entries = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logs', () => {
  it('are one JSON object per line with request id, route, status, latency and oauth_problem', () => {
    const requests = entries().filter((e) => e.msg === 'request');
    expect(requests.length).toBeGreaterThan(20);
    for (const r of requests) {
      expect(r.reqId).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof r.route).toBe('string');
      expect(typeof r.status).toBe('number');
      expect(typeof r.ms).toBe('number');
    }
    expect(requests).toContainEqual(
      expect.objectContaining({ method: 'POST', route: '/oauth/request-token', status: 200 }),
    );
    expect(requests).toContainEqual(
      expect.objectContaining({ route: '/rest/api/1/myself', status: 401, oauth_problem: 'signature_invalid' }),
    );
    expect(requests).toContainEqual(
      expect.objectContaining({ route: '/oauth/access-token', status: 401, oauth_problem: 'verifier_invalid' }),
    );
    expect(requests).toContainEqual(expect.objectContaining({ route: 'unmatched', path: '/nothere/1', status: 404 }));
  });

  it('hold no token, secret, verifier, password or session id, in any encoding', () => {
    const all = lines.join('\n');
    expect(Object.keys(secrets).length).toBeGreaterThanOrEqual(16);
    for (const [what, value] of Object.entries(secrets)) {
      expect(value.length, what).toBeGreaterThan(5);
      for (const form of new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])) {
        expect(all.includes(form), `${what} appears in the logs`).toBe(false);
      }
    }
  });
});

describe('metrics', () => {
  let text = '';
  beforeAll(async () => {
    const res = await fetch(`${s.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    text = await res.text();
  });

  function value(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    let found = false;
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [
          must(x[1], 'a label name'),
          must(x[2], 'a label value'),
        ]),
      );
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
        total += Number(m[3]);
        found = true;
      }
    }
    if (!found) throw new Error(`no ${name} ${JSON.stringify(labels)} in /metrics`);
    return total;
  }

  it('count requests and latency per route', () => {
    expect(value('applink_http_requests_total', { method: 'POST', route: '/oauth/request-token', status: '200' })).toBe(
      2,
    );
    expect(value('applink_http_requests_total', { route: '/rest/api/1/myself' })).toBe(4);
    expect(value('applink_http_request_duration_seconds_count', { route: '/oauth/access-token' })).toBe(2);
    expect(value('applink_http_request_duration_seconds_bucket', { route: '/oauth/access-token', le: '+Inf' })).toBe(2);
    // unknown paths share one label: no cardinality explosion
    expect(value('applink_http_requests_total', { route: 'unmatched', status: '404' })).toBe(2);
    expect(text).not.toContain('/nothere');
  });

  it('count problems by code and token events', () => {
    expect(value('applink_oauth_problems_total', { code: 'signature_invalid' })).toBe(1);
    expect(value('applink_oauth_problems_total', { code: 'verifier_invalid' })).toBe(1);
    expect(value('applink_oauth_problems_total', { code: 'token_revoked' })).toBe(1);
    expect(value('applink_token_events_total', { event: 'issued' })).toBe(2);
    expect(value('applink_token_events_total', { event: 'approved' })).toBe(1);
    expect(value('applink_token_events_total', { event: 'denied' })).toBe(1);
    expect(value('applink_token_events_total', { event: 'exchanged' })).toBe(1);
    expect(value('applink_token_events_total', { event: 'revoked' })).toBe(1);
  });

  it('include the process metrics', () => {
    expect(value('applink_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value('applink_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });
});

describe('audit log', () => {
  const BIN = resolve(__dirname, '../../bin/applink.js');
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env, APPLINK_LOG_LEVEL: 'silent' },
      input: 'another long password\n',
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
  };

  it('records every protocol event with actor, consumer, time and address', async () => {
    const list = await s.services.audits.list({ limit: 1000 });
    const one = (event: string) => {
      const found = list.filter((e) => e.event === event);
      expect(found.length, event).toBeGreaterThan(0);
      for (const e of found) expect(Math.abs(e.at - Date.now()), event).toBeLessThan(120_000);
      return found;
    };
    const local: unknown = expect.stringMatching(/127\.0\.0\.1$/);
    for (const e of one('request_token.issued')) expect(e).toMatchObject({ consumerKey: 'obs', ip: local });
    for (const event of [
      'authorization.approved',
      'authorization.denied',
      'access_token.issued',
      'access_token.revoked',
    ]) {
      for (const e of one(event)) expect(e, event).toMatchObject({ actor: 'alice', consumerKey: 'obs', ip: local });
    }
    expect(one('token.used')[0]).toMatchObject({ actor: 'alice', consumerKey: 'obs', tokenId: grantId, ip: local });
    expect(one('access_token.issued')[0]?.tokenId).toBe(grantId);
    expect(one('access_token.revoked')[0]?.tokenId).toBe(grantId);
    expect(one('verifier.rejected')[0]).toMatchObject({ consumerKey: 'obs', ip: local });
    expect(one('user.updated')[0]).toMatchObject({ actor: 'alice', consumerKey: 'obs', ip: local });
    expect(one('login.failed')[0]).toMatchObject({ ip: local });
    expect(one('login.succeeded')[0]).toMatchObject({ actor: 'alice', ip: local });
  });

  it('records the administrative changes made with the command line', async () => {
    cli('user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password-stdin');
    cli('user', 'disable', '--username', 'bob');
    cli('consumer', 'create', '--key', 'temp', '--name', 'Temporary');
    cli('consumer', 'delete', '--key', 'temp');
    const live = await s.services.grants.list({ includeRevoked: false });
    expect(live).toEqual([]);
    const list = await s.services.audits.list({ limit: 1000 });
    const events = list.map((e) => e.event);
    for (const e of ['user.created', 'user.disabled', 'consumer.created', 'consumer.deleted'])
      expect(events).toContain(e);
    for (const e of list.filter((x) =>
      ['user.created', 'user.disabled', 'consumer.created', 'consumer.deleted'].includes(x.event),
    )) {
      expect((JSON.parse(must(e.detail, `the detail of ${e.event}`)) as { by: string }).by).toBe('cli');
    }
  });
});
