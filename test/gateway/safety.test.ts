// Issue 16, end to end on loopback: what a client with one consumer and one grant of its
// own can send through the gateway, and what an upstream can send back. Requests are
// written byte for byte on a bare socket (paths, header case and duplicates as given); the
// upstream records exactly what reached it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import {
  linkApp,
  oauthHeader,
  pinnedBase,
  signRawTarget,
  startUpstream,
  type Linked,
  type Seen,
  type Upstream,
} from '../helpers/gateway';
import { rawExchange, type RawAnswer } from '../helpers/raw-http';
import { MAIN } from '../helpers/process';
import { formatForm, percentEncode } from '../../src/oauth1/encoding';
import { FORWARDED_REQUEST_HEADERS, GATEWAY_CSP } from '../../src/gateway/headers';
import { ACCEPTED_PATHS, REFUSED_PATHS } from './path-cases';
import { must } from '../helpers/must';

let up: Upstream;
let server: TestServer;
let base: string;
let alice: Linked;

beforeAll(async () => {
  up = await startUpstream();
  const pinned = await pinnedBase();
  base = pinned.APPLINK_BASE_URL;
  server = await startTestServer({ ...pinned, APPLINK_GATEWAY_ROUTES: `/jira=${up.url}/jira` });
  up.trust(base, ['/jira']);
  await seedUser(server, 'alice');
  alice = await linkApp(base, server.services, 'alice', 'wiki');
});
afterAll(async () => {
  await server.stop();
  await up.close();
});

interface Exchange extends RawAnswer {
  /** what the upstream received, or null when nothing reached it */
  seen: Seen | null;
}

/**
 * Writes one request as given: `head` lines after the request line (Host is added unless
 * given), then the body with its Content-Length (unless `chunked`).
 */
async function exchange(
  method: string,
  target: string,
  head: string[],
  body?: string,
  o: { chunked?: boolean } = {},
): Promise<Exchange> {
  const lines = [`${method} ${target} HTTP/1.1`];
  if (!head.some((l) => /^host:/i.test(l))) lines.push(`Host: ${new URL(base).host}`);
  lines.push(...head);
  let payload = '';
  if (body !== undefined) {
    if (o.chunked) {
      lines.push('Transfer-Encoding: chunked');
      payload = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    } else {
      lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
      payload = body;
    }
  }
  lines.push('Connection: close');
  const before = up.seen.length;
  const answer = await rawExchange(base, Buffer.from(`${lines.join('\r\n')}\r\n\r\n${payload}`, 'utf8'));
  // give a request that did get through time to be recorded
  await new Promise((r) => setTimeout(r, 5));
  expect(up.seen.length - before).toBeLessThanOrEqual(1);
  return { ...answer, seen: up.seen.length > before ? must(up.seen.at(-1), 'what the upstream saw') : null };
}

/** What the upstream received, for a call that must have reached it. */
const reached = (r: Exchange) => must(r.seen, 'what the upstream saw');

/** A GET signed over the raw target, OAuth in the header. */
const signedGet = (target: string, head: string[] = []) =>
  exchange('GET', target, [`Authorization: ${oauthHeader(signRawTarget(alice, 'GET', base, target))}`, ...head]);

function expectRefused(r: Exchange, status = 400, problem = 'parameter_rejected') {
  expect(r.status, r.body).toBe(status);
  expect(r.params.oauth_problem ?? r.body).toBe(problem);
  expect(r.seen, 'nothing reached the upstream').toBeNull();
}

describe('paths: only canonical ones, forwarded byte for byte', () => {
  it.each(REFUSED_PATHS.map((p) => [JSON.stringify(p), p]))('refuses %s', async (_label, p) => {
    expectRefused(await signedGet(`/jira${p}`));
  });

  it.each(ACCEPTED_PATHS.map((p) => [JSON.stringify(p), p]))('forwards %s as is', async (_label, p) => {
    const r = await signedGet(`/jira${p}?x=1`);
    expect(r.status, r.body).toBe(200);
    expect(reached(r).verifyError).toBeNull();
    expect(reached(r).url).toBe(`/jira${p}?x=1`);
  });

  it('a route prefix reached through a non-canonical path is refused too', async () => {
    for (const p of ['/jira/../jira/x', '/jira/.;/x', '/jira;/x', '/jira/%2e/x', '/jira//x']) {
      const r = await signedGet(p);
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(r.status, p).toBeLessThan(500);
      expect(r.seen, p).toBeNull();
    }
  });
});

describe('oauth_body_hash: decided from the parsed protocol parameters', () => {
  const json = JSON.stringify({ fields: { summary: 'not hashed?' } });
  const sha1 = (s: string) => createHash('sha1').update(s).digest('base64');
  const EMPTY = sha1('');

  // Every spelling a parser decodes to oauth_body_hash.
  const spellings: Array<[string, (n: string) => string]> = [
    ['plain', (n) => n],
    ['%5F for _', (n) => n.replace(/_/g, '%5F')],
    ['%5f lower case', (n) => (n === 'oauth_body_hash' ? 'oauth%5fbody%5fhash' : n)],
    ['%6F for o', (n) => (n === 'oauth_body_hash' ? '%6Fauth_body_hash' : n)],
    [
      'every character encoded',
      (n) => (n === 'oauth_body_hash' ? n.replace(/./g, (c) => `%${c.charCodeAt(0).toString(16)}`) : n),
    ],
    ['only the last _', (n) => (n === 'oauth_body_hash' ? 'oauth_body%5Fhash' : n)],
  ];

  it.each(spellings)('in the header, %s: the hash of an empty body does not pass a JSON body', async (_l, nameAs) => {
    const pairs = signRawTarget(alice, 'POST', base, '/jira/rest/issue', { oauth: { oauth_body_hash: EMPTY } });
    for (const ct of ['application/json', 'text/plain', 'application/octet-stream']) {
      const r = await exchange(
        'POST',
        '/jira/rest/issue',
        [`Authorization: ${oauthHeader(pairs, nameAs)}`, `Content-Type: ${ct}`],
        json,
      );
      expectRefused(r, 401, 'signature_invalid');
    }
    // without a Content-Type, and chunked (no length known before reading)
    const fresh = signRawTarget(alice, 'POST', base, '/jira/rest/issue', { oauth: { oauth_body_hash: EMPTY } });
    const chunked = await exchange('POST', '/jira/rest/issue', [`Authorization: ${oauthHeader(fresh, nameAs)}`], json, {
      chunked: true,
    });
    expectRefused(chunked, 401, 'signature_invalid');
  });

  it.each(spellings)('in the header, %s: the right hash passes and the body arrives intact', async (_l, nameAs) => {
    const pairs = signRawTarget(alice, 'POST', base, '/jira/rest/issue', { oauth: { oauth_body_hash: sha1(json) } });
    const r = await exchange(
      'POST',
      '/jira/rest/issue',
      [`Authorization: ${oauthHeader(pairs, nameAs)}`, 'Content-Type: application/json'],
      json,
    );
    expect(r.status, r.body).toBe(200);
    expect(reached(r).body).toBe(json);
    expect(reached(r).url).toBe('/jira/rest/issue');
  });

  it.each(spellings)('in the query, %s', async (_l, nameAs) => {
    const query = (hash: string) => {
      // sign with the decoded names, send the names spelt as asked
      const pairs = signRawTarget(alice, 'POST', base, '/jira/rest/issue', { oauth: { oauth_body_hash: hash } });
      return pairs.map(([k, v]) => `${nameAs(percentEncode(k))}=${percentEncode(v)}`).join('&');
    };
    const wrong = await exchange('POST', `/jira/rest/issue?${query(EMPTY)}`, ['Content-Type: application/json'], json);
    expectRefused(wrong, 401, 'signature_invalid');
    const right = await exchange(
      'POST',
      `/jira/rest/issue?${query(sha1(json))}`,
      ['Content-Type: application/json'],
      json,
    );
    expect(right.status, right.body).toBe(200);
    expect(reached(right).body).toBe(json);
    expect(reached(right).url).toBe('/jira/rest/issue'); // the protocol parameters stay here
  });

  it('a form body still may not carry oauth_body_hash, however spelt', async () => {
    const form: Array<[string, string]> = [['a', '1']];
    const pairs = signRawTarget(alice, 'POST', base, '/jira/x', { oauth: { oauth_body_hash: EMPTY }, form });
    const r = await exchange(
      'POST',
      '/jira/x',
      [
        `Authorization: ${oauthHeader(pairs, (n) => n.replace(/_/g, '%5F'))}`,
        'Content-Type: application/x-www-form-urlencoded',
      ],
      formatForm(form),
    );
    expectRefused(r, 400, 'parameter_rejected');
  });
});

describe('request headers: an allowlist, and applink its own identity', () => {
  const applinkSets = [
    'host',
    'applink-jwt-assertion',
    'x-applink-user',
    'x-applink-consumer',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-host',
    'x-forwarded-prefix',
    'via',
    'connection',
  ];
  const allowed = new Set([...FORWARDED_REQUEST_HEADERS, ...applinkSets]);
  const fake = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290IiwiZW1haWwiOiJyb290QGV4YW1wbGUuY29tIn0.';

  // the names from the issue, then case, underscore and duplicate variants
  const hostile = [
    'Remote-User: root',
    'REMOTE-USER: root2',
    'remote_user: root',
    'Remote_User: root',
    'X-Remote-User: root',
    'x-remote-user: root2',
    'X_Remote_User: root',
    'X-Auth-Request-User: root',
    'X-Auth-Request-Email: root@example.com',
    'X-Auth-Request-Groups: admins',
    'X-Auth-Request-Preferred-Username: root',
    'x-auth-request-access-token: t',
    'X_Auth_Request_User: root',
    'X-Original-URL: /admin',
    'X-Original-Url: /admin2',
    'X-Rewrite-URL: /admin',
    'X-Original-URI: /admin',
    'True-Client-IP: 10.0.0.1',
    'TRUE-CLIENT-IP: 10.0.0.2',
    'True_Client_IP: 10.0.0.3',
    `Cf-Access-Jwt-Assertion: ${fake}`,
    `CF-ACCESS-JWT-ASSERTION: ${fake}`,
    `Cf_Access_Jwt_Assertion: ${fake}`,
    'Cf-Access-Authenticated-User-Email: root@example.com',
    'CF-Connecting-IP: 10.0.0.4',
    'X-Forwarded-For: 10.0.0.5',
    'X-Forwarded-For: 10.0.0.6',
    'X-Forwarded-Host: evil.example',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Prefix: /admin',
    'X-Forwarded-User: root',
    'X-Forwarded-Email: root@example.com',
    'Forwarded: for=10.0.0.7;host=evil.example',
    'X-Real-IP: 10.0.0.8',
    'X-Client-IP: 10.0.0.9',
    'X-Applink-User: root',
    'x-applink-user: root2',
    'X-Applink-Consumer: evil',
    'X-Applink-Admin: true',
    `Applink-Jwt-Assertion: ${fake}`,
    `applink-jwt-assertion: ${fake}`,
    `Applink_Jwt_Assertion: ${fake}`,
    'X-HTTP-Method-Override: DELETE',
    'Proxy-Authorization: Basic cm9vdDp4',
    'X-User: root',
    'X-Custom-Anything: 1',
    'Cookie: applink.sid=s%3Astolen; CF_Authorization=eyJ; JSESSIONID=42',
    'Cookie: cf_authorization=x; APPLINK.SID=y; other=2',
  ];

  it("only listed headers arrive; identity is applink's; owned cookies are stripped", async () => {
    const r = await signedGet('/jira/whoami', [...hostile, 'Accept: application/json', 'X-Atlassian-Token: no-check']);
    expect(r.status, r.body).toBe(200);
    const h = reached(r).headers;
    expect(Object.keys(h).filter((n) => !allowed.has(n))).toEqual([]);
    expect(reached(r).verifyError).toBeNull();
    expect(must(reached(r).claims, 'the verified claims').sub).toBe('alice');
    expect(h['applink-jwt-assertion']).not.toContain(fake);
    expect(h['x-applink-user']).toBe('alice');
    expect(h['x-applink-consumer']).toBe('wiki');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-host']).toBe(new URL(base).host);
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-prefix']).toBe('/jira');
    expect(h.cookie).toBe('JSESSIONID=42; other=2');
    expect(h.accept).toBe('application/json');
    expect(h['x-atlassian-token']).toBe('no-check');
  });

  it('a Cookie header of owned cookies only is not forwarded at all', async () => {
    const r = await signedGet('/jira/x', ['Cookie: applink.sid=s%3Aabc', 'Cookie: CF_Authorization=eyJ']);
    expect(r.status).toBe(200);
    expect(reached(r).headers.cookie).toBeUndefined();
  });

  it('the issuer and X-Forwarded-Host come from APPLINK_BASE_URL, never from Host', async () => {
    for (const host of ['evil.example', 'evil.example:8080', `127.0.0.1:${new URL(base).port}`]) {
      const r = await signedGet('/jira/x', [`Host: ${host}`]);
      expect(r.status, r.body).toBe(200);
      const claims = must(reached(r).claims, 'the verified claims');
      expect(claims.iss).toBe(base);
      expect(claims.aud).toBe(`${base}/jira`);
      expect(reached(r).headers['x-forwarded-host']).toBe(new URL(base).host);
    }
  });
});

describe('upgrades are refused, never forwarded as plain requests', () => {
  it.each([
    [
      [
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
      ],
    ],
    [['Connection: keep-alive, Upgrade', 'Upgrade: WebSocket', 'Sec-WebSocket-Version: 13']],
    [['Upgrade: websocket']],
    [['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQAAP__']],
  ])('%j', async (head) => {
    const target = '/jira/socket';
    const r = await exchange('GET', target, [
      `Authorization: ${oauthHeader(signRawTarget(alice, 'GET', base, target))}`,
      ...head,
    ]);
    expectRefused(r);
    expect(r.params.oauth_problem_advice).toMatch(/upgrade/i);
  });

  it('Connection: upgrade without Upgrade is a plain request, forwarded without it', async () => {
    const r = await signedGet('/jira/x', ['Connection: upgrade']);
    expect(r.status, r.body).toBe(200);
    expect(reached(r).headers.upgrade).toBeUndefined();
    expect(reached(r).headers.connection ?? '').not.toMatch(/upgrade/i);
  });
});

describe('responses: sandboxed, and unable to touch applink state', () => {
  it('Set-Cookie for applink cookies and origin-wide headers are dropped; CSP sandbox added', async () => {
    up.handle((req, res) => {
      if (!req.url?.startsWith('/jira/page')) return false;
      res.writeHead(200, {
        'content-type': 'text/html',
        'set-cookie': [
          'applink.sid=s%3Aevil; Path=/; HttpOnly',
          'APPLINK.SID=evil; Path=/',
          'CF_Authorization=evil; Path=/',
          '=applink.sid=evil; Path=/',
          'applink.sid',
          'JSESSIONID=1; Path=/jira',
          'theme=dark; Path=/; Domain=127.0.0.1',
        ],
        'strict-transport-security': 'max-age=0',
        'clear-site-data': '"cookies", "storage"',
        'alt-svc': 'h2=":8443"',
        nel: '{"report_to":"x","max_age":1}',
        'report-to': '{"group":"x"}',
        'service-worker-allowed': '/',
        'content-security-policy': "default-src 'self'",
      });
      res.end('<p>hi</p>');
      return true;
    });
    try {
      const r = await signedGet('/jira/page');
      expect(r.status).toBe(200);
      // raw-http keeps the last of repeated headers: read them from the full list instead
      const all = await fetch(`${base}/jira/page?${signedQuery('/jira/page')}`);
      expect(all.headers.getSetCookie()).toEqual(['JSESSIONID=1; Path=/jira', 'theme=dark; Path=/jira']);
      for (const gone of [
        'strict-transport-security',
        'clear-site-data',
        'alt-svc',
        'nel',
        'report-to',
        'service-worker-allowed',
      ])
        expect(all.headers.get(gone), gone).toBeNull();
      expect(all.headers.get('content-security-policy')).toBe(`default-src 'self', ${GATEWAY_CSP}`);
      expect(all.headers.get('x-content-type-options')).toBe('nosniff');
      expect(all.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    } finally {
      up.handle(null);
    }
  });

  it('every gateway response, whatever its type or status, is sandboxed', async () => {
    for (const [status, type] of [
      [200, 'application/json'],
      [404, 'text/html'],
      [302, 'text/plain'],
      [500, 'image/svg+xml'],
    ] as const) {
      up.handle((req, res) => {
        if (!req.url?.startsWith('/jira/any')) return false;
        res.writeHead(status, { 'content-type': type, location: '/elsewhere' });
        res.end('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
        return true;
      });
      try {
        const res = await fetch(`${base}/jira/any?${signedQuery('/jira/any')}`, { redirect: 'manual' });
        expect(res.status).toBe(status);
        expect(res.headers.get('content-security-policy')).toBe(GATEWAY_CSP);
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      } finally {
        up.handle(null);
      }
    }
  });
});

describe('gateway routes need APPLINK_BASE_URL', () => {
  it('without it, applink refuses to start with one clear line', () => {
    const r = spawnSync(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        APPLINK_PORT: '0',
        APPLINK_DATABASE_URL: 'sqlite::memory:',
        APPLINK_GATEWAY_ROUTES: '/jira=http://127.0.0.1:9',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('APPLINK_BASE_URL');
    expect(r.stderr).toContain('APPLINK_GATEWAY_ROUTES');
  });
});

/** The protocol parameters of a GET of `path`, as a query string (what a link carries). */
function signedQuery(path: string, who: Linked = alice): string {
  return formatForm(signRawTarget(who, 'GET', base, path));
}
