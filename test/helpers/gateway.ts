// The gateway's test rig, also what a benchmark needs: a real upstream application on
// loopback that verifies every Applink-Jwt-Assertion with jose against applink's published
// key set, a linked app (the whole dance), and requests signed with oauth-1.0a.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { OPERATOR } from '../../src/services/actor';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import OAuth1a from 'oauth-1.0a';
import { formatForm, parseForm, percentEncode } from '../../src/oauth1/encoding';
import { baseStringUri, signatureBaseString } from '../../src/oauth1/base-string';
import { hmacSignature } from '../../src/oauth1/signature';
import type { Wiring } from '../../src/wiring';
import { approve, verifierFrom } from './browser';
import { oauth1aClient } from './clients';
import { must } from './must';

/** A loopback port free right now (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Gateway routes need APPLINK_BASE_URL: a server listening on a port chosen now, with that
 * address as its base URL (plus `path`, e.g. `/applink`).
 */
export async function pinnedBase(path = ''): Promise<{ APPLINK_PORT: string; APPLINK_BASE_URL: string }> {
  const port = await freePort();
  return { APPLINK_PORT: String(port), APPLINK_BASE_URL: `http://127.0.0.1:${port}${path}` };
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  body: string;
  /** the verified assertion's claims and header kid, or null */
  claims: (JWTPayload & { kid: string }) | null;
  verifyError: string | null;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => boolean | undefined;

export interface Upstream {
  url: string;
  seen: Seen[];
  /** points the verifier at applink (its base URL: issuer and JWKS) and its route prefixes */
  trust(applinkBase: string, prefixes: string[], jwksCooldownMs?: number): void;
  /** a handler that may take over a path before the default echo */
  handle(h: Handler | null): void;
  close(): Promise<void>;
}

/**
 * An upstream that verifies the assertion (issuer = applink's base, audience = base + one
 * of its route prefixes, ES256), records what it received and, unless a handler
 * takes over, answers with a JSON echo of it. Bodies are hashed as they stream, never held
 * beyond the first 64 KiB kept for assertions.
 */
export async function startUpstream(): Promise<Upstream> {
  let issuer = '';
  let audience: string[] = [];
  let jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
  let handler: Handler | null = null;
  const seen: Seen[] = [];
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const s: Seen = {
      method: must(req.method, 'the method of the request upstream'),
      url: must(req.url, 'the URL of the request upstream'),
      headers: req.headers,
      bytes: 0,
      sha256: '',
      body: '',
      claims: null,
      verifyError: null,
    };
    seen.push(s);
    const assertion = req.headers['applink-jwt-assertion'];
    if (typeof assertion === 'string' && jwks) {
      try {
        const { payload, protectedHeader } = await jwtVerify(assertion, jwks, {
          issuer,
          audience,
          algorithms: ['ES256'],
        });
        s.claims = { ...payload, kid: must(protectedHeader.kid, 'the kid in the assertion header') };
      } catch (e) {
        s.verifyError = `${(e as Error).name}: ${(e as Error).message}`;
      }
    } else {
      s.verifyError = 'no assertion';
    }
    if (handler?.(req, res, s)) return;
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    let keptLength = 0;
    req.on('data', (c: Buffer) => {
      s.bytes += c.length;
      hash.update(c);
      if (keptLength < 65_536) {
        kept.push(c);
        keptLength += c.length;
      }
    });
    req.on('end', () => {
      s.sha256 = hash.digest('hex');
      s.body = Buffer.concat(kept).toString('utf8');
      const status = s.claims ? 200 : 403;
      res.writeHead(status, { 'content-type': 'application/json', 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] });
      res.end(JSON.stringify({ ...s, claims: s.claims, verifyError: s.verifyError }));
    });
  };
  const server = http.createServer((req, res) => void serve(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    trust(applinkBase, prefixes, jwksCooldownMs = 30_000) {
      issuer = applinkBase;
      audience = prefixes.map((p) => applinkBase + p);
      jwks = createRemoteJWKSet(new URL(`${applinkBase}/.well-known/jwks.json`), {
        cooldownDuration: jwksCooldownMs,
      });
    },
    handle(h) {
      handler = h;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Linked {
  consumer: { key: string; secret: string };
  token: { key: string; secret: string };
  /** the access token's id */
  grantId: number;
}

/** A consumer linked by `username` through the real dance (oob), with HMAC-SHA1. */
export async function linkApp(base: string, s: Wiring, username: string, consumerKey: string): Promise<Linked> {
  const created = await s.consumers.create(OPERATOR, {
    key: consumerKey,
    name: `${consumerKey} app`,
    withSecret: true,
  });
  const consumer = { key: consumerKey, secret: must(created.secret, 'the new consumer secret') };
  const client = oauth1aClient({ base, ...consumer, privateKey: '', method: 'HMAC-SHA1' });
  const rt = await client.requestToken('oob');
  const verifier = await verifierFrom(await approve(base, rt.token, username));
  const at = await client.accessToken(rt.token, rt.secret, verifier);
  const grants = await s.grants.list({ consumerKey });
  return {
    consumer,
    token: { key: at.token, secret: at.secret },
    grantId: must(grants.at(-1), 'the grant just made').id,
  };
}

export interface Signed {
  url: string;
  headers: Record<string, string>;
  body?: string;
}

const signer = (l: Linked) =>
  new OAuth1a({
    consumer: l.consumer,
    signature_method: 'HMAC-SHA1',
    hash_function: (base: string, key: string) => createHmac('sha1', key).update(base).digest('base64'),
    body_hash_function: (data: string) => createHash('sha1').update(data).digest('base64'),
  });

/**
 * Signs a request with oauth-1.0a. `query` and `form` are signed as data (see the README on
 * oauth-1.0a and raw URLs); `json` is sent with oauth_body_hash; `oauthIn` moves the
 * protocol parameters from the Authorization header to the query or the form body.
 */
export function sign(
  l: Linked,
  method: string,
  url: string,
  o: {
    query?: Record<string, string>;
    form?: Record<string, string>;
    json?: string;
    oauthIn?: 'header' | 'query' | 'body';
    contentType?: string;
  } = {},
): Signed {
  const oauth = signer(l);
  const token = { key: l.token.key, secret: l.token.secret };
  const query = Object.entries(o.query ?? {});
  if (o.json !== undefined) {
    // oauth-1.0a reads the query from the URL when it hashes a body: keep it plain.
    const full = query.length ? `${url}?${formatForm(query)}` : url;
    const auth = oauth.authorize({ url: full, method, data: o.json, includeBodyHash: true }, token);
    return {
      url: full,
      headers: { ...oauth.toHeader(auth), 'content-type': o.contentType ?? 'application/json' },
      body: o.json,
    };
  }
  const auth = oauth.authorize({ url, method, data: { ...o.query, ...o.form } }, token);
  const protocol = Object.entries(auth).filter(([k]) => k.startsWith('oauth_')) as Array<[string, string]>;
  const headers: Record<string, string> = {};
  let q = query;
  let form = Object.entries(o.form ?? {});
  if ((o.oauthIn ?? 'header') === 'header') Object.assign(headers, oauth.toHeader(auth));
  else if (o.oauthIn === 'query') q = [...q, ...protocol];
  else form = [...form, ...protocol];
  if (o.form || o.oauthIn === 'body') headers['content-type'] = 'application/x-www-form-urlencoded';
  return {
    url: q.length ? `${url}?${formatForm(q)}` : url,
    headers,
    ...((o.form || o.oauthIn === 'body') && { body: formatForm(form) }),
  };
}

/**
 * Sends a request with node:http, path as given (fetch would resolve `..` and refuses
 * some headers, such as Connection).
 */
export function rawSend(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const u = new URL(url);
  const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: must(res.statusCode, 'the response status'),
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends a signed request with fetch; extra headers are added after signing. */
export async function send(
  method: string,
  s: Signed,
  extra: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(s.url, { method, headers: { ...s.headers, ...extra }, body: s.body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/**
 * Signs a request target exactly as sent (raw path and query, no URL parsing), with the
 * core's own base string, and returns the protocol parameters with their signature. Extra
 * `oauth` parameters (oauth_body_hash) and `query` pairs already in `target` are signed too.
 */
export function signRawTarget(
  l: Linked,
  method: string,
  origin: string,
  target: string,
  o: { oauth?: Record<string, string>; form?: Array<[string, string]> } = {},
): Array<[string, string]> {
  const oauth: Array<[string, string]> = [
    ['oauth_consumer_key', l.consumer.key],
    ['oauth_nonce', randomBytes(12).toString('hex')],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', String(Math.floor(Date.now() / 1000))],
    ['oauth_token', l.token.key],
    ['oauth_version', '1.0'],
    ...Object.entries(o.oauth ?? {}),
  ];
  const q = target.indexOf('?');
  const query = q === -1 ? [] : parseForm(target.slice(q + 1));
  const base = signatureBaseString(method, baseStringUri(origin, target), [...oauth, ...query, ...(o.form ?? [])]);
  return [...oauth, ['oauth_signature', hmacSignature('HMAC-SHA1', base, l.consumer.secret, l.token.secret)]];
}

/** `OAuth name="value", ...`, each name written by `nameAs` (default: percent-encoded). */
export function oauthHeader(pairs: Array<[string, string]>, nameAs: (n: string) => string = percentEncode): string {
  return `OAuth ${pairs.map(([k, v]) => `${nameAs(k)}="${percentEncode(v)}"`).join(', ')}`;
}
