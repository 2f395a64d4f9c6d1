// The fast path in front of Express (src/http/front.ts) against Express alone: two servers
// on one database, one with the fast path, one without, sent the same requests. Every
// answer must be the same bytes (status line, headers in order, body), but for the
// request id, the date and the nonce each request had to carry.
import { connect, type AddressInfo } from 'node:net';
import { createServer, IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsaKeys, seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { buildSignedRequest, type SignOptions } from '../helpers/sign';
import { rawRequest } from '../helpers/raw-http';
import { must } from '../helpers/must';
import { startServer, type RunningServer } from '../../src/server';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { hashToken, newSecretValue, newTokenValue } from '../../src/oauth1/tokens';

const PUBLIC = 'http://applink.test/base';
const API = `${PUBLIC}/rest/api/1/myself`;
const TRACKER = `${PUBLIC}/tracker`;

/** Sends bytes, reads until the server closes (every request says Connection: close). */
function exchange(url: string, bytes: Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer in time'));
    }, 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.on('end', done);
    socket.on('error', done);
    socket.write(bytes);
  });
}

interface Case {
  name: string;
  /** the status both must answer */
  status: number;
  /** the request, given the nonce it must carry */
  build(nonce: string): { method: string; target: string; headers: Array<[string, string]>; body?: Buffer | string };
  /** send it twice to each server and compare the second answers (replays) */
  twice?: boolean;
}

describe.each(await testDatabases())('the fast path answers as Express does, on %s', (database) => {
  let fast: TestServer;
  let express: RunningServer;
  let upstream: { url: string; close(): Promise<void> };
  let hmac: { key: string; secret: string | null };
  const tokens: Record<string, { key: string; secret: string }> = {};

  beforeAll(async () => {
    upstream = await echoUpstream();
    fast = await startTestServer({
      database,
      env: {
        APPLINK_BASE_URL: PUBLIC,
        APPLINK_TRUST_PROXY: 'true',
        APPLINK_GATEWAY_ROUTES: `/tracker=${upstream.url}/app,/down=http://127.0.0.1:9`,
        APPLINK_GATEWAY_BUFFER_LIMIT: '1024',
      },
    });
    express = await startServer(loadConfig(fast.env), createLogger({ logLevel: 'silent' }), { fastPath: false });
    const alice = await seedUser(fast, 'alice');
    const bob = await seedUser(fast, 'bob');
    hmac = await seedConsumer(fast, 'hmac');
    await seedConsumer(fast, 'rsa', { rsa: true, secret: false });
    const consumers = await fast.services.consumers.list();
    const idOf = (key: string) =>
      must(
        consumers.find((c) => c.key === key),
        `the consumer ${key}`,
      ).id;
    const issue = async (name: string, consumer: string, userId: number) => {
      const s = fast.services.store;
      const now = Date.now();
      const consumerId = idOf(consumer);
      const rt = await s.createRequestToken(
        {
          tokenHash: hashToken(`rt-${name}`),
          consumerId,
          secret: 'x',
          callback: 'oob',
          createdAt: now,
          expiresAt: now + 600_000,
        },
        { event: 'request_token.issued', consumerId },
      );
      await s.approveRequestToken(rt, userId, 'v', now, { event: 'authorization.approved', actorUserId: userId });
      const key = newTokenValue();
      const secret = newSecretValue();
      const at = await s.exchangeRequestToken(
        {
          requestTokenId: rt,
          consumerId,
          userId,
          accessTokenHash: hashToken(key),
          accessSecret: secret,
          createdAt: now,
          expiresAt: null,
          sessionHandleHash: hashToken(newTokenValue()),
          authorizationExpiresAt: null,
        },
        { event: 'access_token.issued', actorUserId: userId, consumerId },
      );
      tokens[name] = { key, secret };
      if (!('id' in at)) throw new Error(`exchange refused: ${at.refused}`);
      return at.id;
    };
    await issue('alice', 'hmac', alice.id);
    await issue('rsa', 'rsa', alice.id);
    const revoked = await issue('revoked', 'hmac', alice.id);
    await fast.services.db.knex('access_tokens').where({ id: revoked }).update({ revoked_at: Date.now() });
    await issue('bob', 'hmac', bob.id);
    await fast.services.db.knex('users').where({ id: bob.id }).update({ disabled_at: Date.now() });
  });
  afterAll(async () => {
    // beforeAll may have stopped part-way
    await (express as RunningServer | undefined)?.close();
    await (fast as TestServer | undefined)?.stop();
    await (upstream as typeof upstream | undefined)?.close();
  });

  const ts = String(Math.floor(Date.now() / 1000));

  /** A signed request, as raw parts; `o` as for buildSignedRequest. */
  const signed =
    (o: Partial<SignOptions> & { tokenName?: string; url?: string }, headers: Array<[string, string]> = []) =>
    (nonce: string) => {
      const t = must(tokens[o.tokenName ?? 'alice'], 'the access token');
      const r = buildSignedRequest(o.url ?? API, {
        consumerKey: hmac.key,
        consumerSecret: hmac.secret,
        token: t.key,
        tokenSecret: t.secret,
        ...o,
        oauth: { oauth_nonce: nonce, oauth_timestamp: ts, ...o.oauth },
      });
      const u = new URL(r.url);
      const h = Object.entries((r.init.headers ?? {}) as Record<string, string>);
      return {
        method: r.init.method ?? 'GET',
        target: u.pathname + u.search,
        headers: [...h, ...headers] as Array<[string, string]>,
        body: r.init.body as string | undefined,
      };
    };

  const cases: Case[] = [
    { name: 'a signed GET', status: 200, build: signed({}) },
    { name: 'a signed HEAD', status: 200, build: signed({ method: 'HEAD' }) },
    {
      name: 'a signed GET with its parameters in the query',
      status: 200,
      build: signed({ place: 'query', query: [['x', 'y z']] }),
    },
    {
      name: 'an RSA-SHA1 GET',
      status: 200,
      build: signed({
        consumerKey: 'rsa',
        consumerSecret: null,
        privateKey: rsaKeys.privateKey,
        signatureMethod: 'RSA-SHA1',
        tokenName: 'rsa',
      }),
    },
    { name: 'a form POST', status: 200, build: signed({ method: 'POST', form: [['displayName', 'Alice Fast']] }) },
    { name: 'a form POST without displayName', status: 400, build: signed({ method: 'POST', form: [['other', '1']] }) },
    {
      name: 'a form POST with displayName twice',
      status: 400,
      build: signed({
        method: 'POST',
        form: [
          ['displayName', 'a'],
          ['displayName', 'b'],
        ],
      }),
    },
    {
      name: 'a gzip-encoded form POST',
      status: 200,
      build: (n) => {
        const r = signed({ method: 'POST', form: [['displayName', 'Alice Gzip']] })(n);
        return {
          ...r,
          headers: [...r.headers, ['Content-Encoding', 'gzip']],
          body: gzipSync(must(r.body, 'the form body')),
        };
      },
    },
    {
      name: 'a POST in an unknown content encoding',
      status: 415,
      build: (n) => {
        const r = signed({ method: 'POST', form: [['displayName', 'x']] })(n);
        return { ...r, headers: [...r.headers, ['Content-Encoding', 'snappy']] };
      },
    },
    {
      name: 'a body over the limit, declared',
      status: 413,
      build: (n) => ({ ...signed({ method: 'POST' })(n), headers: [['Content-Length', '70000']], body: '' }),
    },
    {
      name: 'a chunked body over the limit',
      status: 413,
      build: (n) => {
        const r = signed({ method: 'POST' })(n);
        const chunk = 'a'.repeat(70_000);
        return {
          ...r,
          headers: [...r.headers, ['Transfer-Encoding', 'chunked']],
          body: `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
        };
      },
    },
    { name: 'a wrong signature', status: 401, build: signed({ signatureOverride: 'AAAA' }) },
    { name: 'an unknown consumer', status: 401, build: signed({ consumerKey: 'nobody' }) },
    { name: 'an unknown token', status: 401, build: (n) => signed({ token: 'nope', tokenSecret: 'x' })(n) },
    { name: 'no token', status: 400, build: signed({ oauth: { oauth_token: null } }) },
    { name: 'a revoked token', status: 401, build: signed({ tokenName: 'revoked' }) },
    { name: 'a disabled user', status: 401, build: signed({ tokenName: 'bob' }) },
    { name: 'a timestamp out of the window', status: 401, build: signed({ oauth: { oauth_timestamp: '1000' } }) },
    { name: 'an unknown signature method', status: 400, build: signed({ signatureMethod: 'MD5' }) },
    { name: 'PLAINTEXT over http', status: 400, build: signed({ signatureMethod: 'PLAINTEXT' }) },
    { name: 'a replay', status: 401, build: signed({}), twice: true },
    {
      name: 'Authorization twice',
      status: 400,
      build: (n) => {
        const r = signed({})(n);
        return {
          ...r,
          headers: [
            ...r.headers,
            must(
              r.headers.find(([k]) => k.toLowerCase() === 'authorization'),
              'the Authorization header',
            ),
          ],
        };
      },
    },
    { name: 'a valid X-Forwarded-For', status: 200, build: signed({}, [['X-Forwarded-For', '198.51.100.7']]) },
    {
      name: 'an X-Forwarded-For that is not an address',
      status: 400,
      build: signed({}, [['X-Forwarded-For', 'not-an-ip']]),
    },
    {
      name: 'no Authorization at all',
      status: 400,
      build: () => ({ method: 'GET', target: '/base/rest/api/1/myself', headers: [] }),
    },
    {
      name: 'another scheme',
      status: 400,
      build: () => ({ method: 'GET', target: '/base/rest/api/1/myself', headers: [['Authorization', 'Basic eDp5']] }),
    },
    {
      name: 'a malformed OAuth header',
      status: 400,
      build: () => ({
        method: 'GET',
        target: '/base/rest/api/1/myself?a=%zz',
        headers: [['Authorization', 'OAuth x']],
      }),
    },
    { name: 'PUT (no such route)', status: 404, build: signed({ method: 'PUT' }) },
    { name: 'a trailing slash (left to Express)', status: 200, build: signed({ url: `${API}/` }) },
    {
      name: 'the path without the base path',
      status: 404,
      build: signed({ url: 'http://applink.test/rest/api/1/myself' }),
    },
    // the gateway
    { name: 'a gateway GET', status: 200, build: signed({ url: `${TRACKER}/issues/1`, query: [['q', 'a b']] }) },
    { name: 'a gateway HEAD', status: 200, build: signed({ method: 'HEAD', url: `${TRACKER}/issues/1` }) },
    {
      name: 'a gateway form POST',
      status: 200,
      build: signed({ method: 'POST', url: `${TRACKER}/issues`, form: [['title', 'x y']] }),
    },
    {
      name: 'a gateway JSON POST (streamed)',
      status: 200,
      build: (n) => {
        const r = signed({ method: 'POST', url: `${TRACKER}/issues` })(n);
        return { ...r, headers: [...r.headers, ['Content-Type', 'application/json']], body: '{"a":1}' };
      },
    },
    {
      name: 'a gateway form over the buffer limit',
      status: 413,
      build: signed({ method: 'POST', url: `${TRACKER}/issues`, form: [['title', 'x'.repeat(2000)]] }),
    },
    { name: 'a gateway dot segment', status: 400, build: signed({ url: `${TRACKER}/a/..;/b` }) },
    {
      name: 'a gateway upgrade',
      status: 400,
      build: signed({ url: `${TRACKER}/ws` }, [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade'],
      ]),
    },
    {
      name: 'a gateway wrong signature',
      status: 401,
      build: signed({ url: `${TRACKER}/x`, signatureOverride: 'AAAA' }),
    },
    { name: 'a gateway revoked token', status: 401, build: signed({ url: `${TRACKER}/x`, tokenName: 'revoked' }) },
    { name: 'a gateway upstream down', status: 502, build: signed({ url: `${PUBLIC}/down/x` }) },
    {
      name: 'a gateway X-Forwarded-For not an address',
      status: 400,
      build: signed({ url: `${TRACKER}/x` }, [['X-Forwarded-For', 'nope']]),
    },
    {
      name: 'a gateway prefix in other letter case (Express)',
      status: 404,
      build: signed({ url: `${PUBLIC}/Tracker/x` }),
    },
  ];

  const mask = (answer: string, nonce: string) =>
    answer
      .replace(/^X-Request-Id: [0-9a-f-]+\r$/m, 'X-Request-Id: *\r')
      .replace(/^Date: .*\r$/gm, 'Date: *\r')
      // any other HTTP date (a cookie's Expires, an upstream's Last-Modified): the two
      // servers answer a moment apart, and a second may tick between them
      .replace(/[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT/g, '<http-date>')
      .replace(/"date":"[^"]*"/g, '"date":"*"')
      .replaceAll(nonce, '<nonce>')
      .replace(/oauth_acceptable_timestamps=\d+-\d+/, 'oauth_acceptable_timestamps=*');

  async function answerOf(url: string, c: Case): Promise<string> {
    const nonce = randomBytes(8).toString('hex');
    const r = c.build(nonce);
    const bytes = () => rawRequest(url, r.method, r.target, [['Host', 'applink.test'], ...r.headers], r.body);
    let answer = await exchange(url, bytes());
    if (c.twice) answer = await exchange(url, bytes());
    return mask(answer, nonce);
  }

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const viaFast = await answerOf(fast.url, c);
    const viaExpress = await answerOf(express.url, c);
    expect(viaFast.slice(0, 12)).toBe(`HTTP/1.1 ${c.status}`);
    expect(viaFast).toBe(viaExpress);
  });

  it('signed API and gateway calls really take the fast path (other spellings do not)', async () => {
    // Express gives every request it handles its own prototype; the fast path leaves
    // node's IncomingMessage as it is.
    const seen: string[] = [];
    const listener = (req: object) =>
      seen.push(Object.getPrototypeOf(req) === IncomingMessage.prototype ? 'fast' : 'express');
    fast.server.prependListener('request', (req, res) => res.once('finish', () => listener(req)));
    await answerOf(fast.url, { name: 'get', status: 200, build: signed({}) });
    await answerOf(fast.url, { name: 'slash', status: 200, build: signed({ url: `${API}/` }) });
    await answerOf(fast.url, { name: 'gateway', status: 200, build: signed({ url: `${TRACKER}/x` }) });
    await answerOf(fast.url, {
      name: 'case',
      status: 200,
      build: signed({ url: 'http://applink.test/BASE/tracker/x' }),
    });
    expect(seen).toEqual(['fast', 'express', 'fast', 'express']);
  });
});

/** An upstream that answers what it received (minus the assertion, which differs per call). */
async function echoUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { 'applink-jwt-assertion': assertion, ...headers } = req.headers;
      const body = JSON.stringify({
        method: req.method,
        url: req.url,
        headers,
        assertion: typeof assertion === 'string' && assertion.split('.').length === 3,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Set-Cookie', ['app=1; Path=/', 'applink.sid=stolen']);
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
