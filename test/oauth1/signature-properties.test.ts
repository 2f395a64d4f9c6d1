// Property-based: for arbitrary methods, URLs and parameter sets (any Unicode, reserved
// characters, repeated names, empty values; in the query, the body or both; spaces sent
// as + or %20, hex in either case), a request signed by oauth-1.0a or by node `oauth`
// verifies against the real verification path (verifySignedRequest over an in-memory
// store), and a single change to any signed part of it is signature_invalid.
import { createHmac, sign } from 'node:crypto';
import fc from 'fast-check';
import OAuth1a from 'oauth-1.0a';
import { OAuth as NodeOAuth } from 'oauth';
import { describe, expect, it } from 'vitest';
import { verifySignedRequest } from '../../src/oauth1/flows/verify-request';
import type { FlowDeps } from '../../src/oauth1/ports';
import { OAuthProblem } from '../../src/oauth1/problems';
import type { RequestParts } from '../../src/oauth1/params';
import { MemoryStore } from '../helpers/memory-store';
import { rsaKeys } from '../helpers/server';
import { must } from '../helpers/must';

type Pair = [string, string];
type SignatureMethod = 'HMAC-SHA1' | 'HMAC-SHA256' | 'RSA-SHA1';

const CONSUMER = { key: 'prop-consumer', secret: 'c0nsumer secret/with+reserved&chars' };
const TOKEN = { key: 'prop-access-token', secret: 'token secret ü' };

const store = new MemoryStore();
const consumer = store.addConsumer(CONSUMER.key, { secret: CONSUMER.secret, publicKeyPem: rsaKeys.publicKey });
store.addAccessToken(consumer, TOKEN.key, TOKEN.secret);
const deps: FlowDeps = {
  store,
  clock: { now: () => Date.now() },
  options: { timestampWindow: 300, lastUsedThrottle: 60_000 },
};

// --- generators -----------------------------------------------------------------------

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const awkward = ['', ' ', '+', '%', '%20', '=', '&', "!*'()", '~', 'a b+c&d=e/ü', '😀', 'ü', '&=&', '%zz'];
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom(...awkward),
);
// A small pool of names next to arbitrary ones, so repeated names are common.
const paramName = fc
  .oneof(
    fc.constantFrom('a', 'b', 'q', 'A', 'a b', 'ü', '=', '&', '+', '%', 'x[]'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }),
  )
  .filter((n) => !n.startsWith('oauth_') && n !== '__proto__');

const requestSpec = fc.record({
  method: fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'), fc.stringMatching(/^[A-Z]{1,8}$/)),
  https: fc.boolean(),
  // an xn-- label must be valid punycode, which the WHATWG URL parser (and so every client) checks
  host: fc.stringMatching(/^[a-z][a-z0-9-]{0,12}(\.[a-z]{2,6}){0,2}$/).filter((h) => URL.canParse(`http://${h}/`)),
  upperCaseHost: fc.boolean(),
  port: fc.option(
    fc.integer({ min: 1, max: 65535 }).filter((p) => p !== 80 && p !== 443),
    { nil: undefined },
  ),
  explicitDefaultPort: fc.boolean(),
  segments: fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength: 4 }),
  params: fc.array(fc.record({ name: paramName, value: text, inBody: fc.boolean() }), { maxLength: 10 }),
  oauthPlace: fc.constantFrom('header' as const, 'query' as const, 'body' as const),
  spaceAsPlus: fc.boolean(),
  lowerCaseHex: fc.boolean(),
  signer: fc.constantFrom('oauth-1.0a' as const, 'oauth' as const),
  signatureMethod: fc.constantFrom<SignatureMethod>('HMAC-SHA1', 'HMAC-SHA256', 'RSA-SHA1'),
});
type Spec = typeof requestSpec extends fc.Arbitrary<infer T> ? T : never;

// --- the client side: sign with an npm library, then put it on the wire ----------------

/** RFC 3986 strict: everything but unreserved characters escaped. */
const strict = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function wire(s: string, spec: Spec): string {
  let out = strict(s);
  if (spec.spaceAsPlus) out = out.replace(/%20/g, '+');
  if (spec.lowerCaseHex) out = out.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
  return out;
}

const pathOf = (spec: Spec) => '/' + spec.segments.map(strict).join('/');
const hasBody = (spec: Spec) => BODY_METHODS.has(spec.method);
const signedUrl = (spec: Spec) =>
  `${spec.https ? 'https' : 'http'}://${spec.host}${spec.port ? `:${spec.port}` : ''}${pathOf(spec)}`;

function grouped(pairs: Pair[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

/** The oauth_* parameters (signature included) a library produces for this request. */
function signWithLibrary(spec: Spec): Pair[] {
  const params: Pair[] = spec.params.map((p) => [p.name, p.value]);
  const url = signedUrl(spec);
  if (spec.signer === 'oauth-1.0a') {
    const oauth = new OAuth1a({
      consumer: { key: CONSUMER.key, secret: CONSUMER.secret },
      signature_method: spec.signatureMethod,
      hash_function: (base: string, key: string) =>
        spec.signatureMethod === 'RSA-SHA1'
          ? sign('sha1', Buffer.from(base), rsaKeys.privateKey).toString('base64')
          : createHmac(spec.signatureMethod === 'HMAC-SHA1' ? 'sha1' : 'sha256', key)
              .update(base)
              .digest('base64'),
    });
    const data = oauth.authorize({ url, method: spec.method, data: grouped(params) }, TOKEN);
    // authorize() merges the data into what it returns; the protocol parameters are the oauth_ ones
    return Object.entries(data)
      .filter(([k]) => k.startsWith('oauth_'))
      .map(([k, v]) => [k, String(v)]);
  }
  const client = new NodeOAuth(
    '',
    '',
    CONSUMER.key,
    spec.signatureMethod === 'RSA-SHA1' ? rsaKeys.privateKey : CONSUMER.secret,
    '1.0',
    null,
    spec.signatureMethod,
  );
  const ordered = (
    client as unknown as {
      // oauth_timestamp comes back as a number
      _prepareParameters(
        t: string,
        s: string,
        m: string,
        u: string,
        p: Record<string, unknown>,
      ): Array<[string, string | number]>;
    }
  )._prepareParameters(TOKEN.key, TOKEN.secret, spec.method, url, grouped(params));
  return ordered.filter(([k]) => k.startsWith('oauth_')).map(([k, v]): Pair => [k, String(v)]);
}

interface Built {
  spec: Spec;
  /** the protocol parameters as sent (may be mutated) */
  oauth: Pair[];
  params: Array<{ name: string; value: string; inBody: boolean }>;
  method: string;
  path: string;
  https: boolean;
  host: string;
  port: number | undefined;
}

function build(b: Built): RequestParts {
  const { spec } = b;
  const body = hasBody(spec);
  const query: Pair[] = b.params.filter((p) => !(body && p.inBody)).map((p) => [p.name, p.value]);
  const form: Pair[] = b.params.filter((p) => body && p.inBody).map((p) => [p.name, p.value]);
  const place = spec.oauthPlace === 'body' && !body ? 'header' : spec.oauthPlace;
  if (place === 'query') query.push(...b.oauth);
  if (place === 'body') form.push(...b.oauth);
  const encode = (pairs: Pair[]) => pairs.map(([k, v]) => `${wire(k, spec)}=${wire(v, spec)}`).join('&');
  const host = spec.upperCaseHost ? b.host.toUpperCase() : b.host;
  const defaultPort = b.https ? 443 : 80;
  const port = b.port ?? (spec.explicitDefaultPort ? defaultPort : undefined);
  return {
    method: b.method,
    origin: `${b.https ? 'https' : 'http'}://${host}${port ? `:${port}` : ''}`,
    target: b.path + (query.length ? `?${encode(query)}` : ''),
    authorization:
      place === 'header'
        ? 'OAuth realm="Example", ' + b.oauth.map(([k, v]) => `${strict(k)}="${strict(v)}"`).join(', ')
        : undefined,
    contentType: form.length ? 'application/x-www-form-urlencoded' : undefined,
    body: form.length ? Buffer.from(encode(form)) : undefined,
  };
}

function signed(spec: Spec): Built {
  return {
    spec,
    oauth: signWithLibrary(spec),
    params: spec.params.map((p) => ({ ...p })),
    method: spec.method,
    path: pathOf(spec),
    https: spec.https,
    host: spec.host,
    port: spec.port,
  };
}

const sortPairs = (pairs: Pair[]) =>
  [...pairs].sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));

async function problemOf(parts: RequestParts): Promise<string> {
  try {
    await verifySignedRequest(parts, 'access', '127.0.0.1', deps);
    return 'verified';
  } catch (e) {
    if (e instanceof OAuthProblem) return e.code;
    throw e;
  }
}

// --- single changes to a signed part --------------------------------------------------

const REPLACEMENTS = 'aZ9-.~é ';
/** Replaces the code point at `pos` (mod length) with a different one, or adds one to an empty string. */
function changeOne(s: string, pos: number, pick: number): string {
  const cps = Array.from(s);
  if (cps.length === 0) return REPLACEMENTS.charAt(pick % REPLACEMENTS.length);
  const i = pos % cps.length;
  const choices = Array.from(REPLACEMENTS).filter((c) => c !== cps[i]);
  cps[i] = must(choices[pick % choices.length], 'a replacement');
  return cps.join('');
}

const MUTATIONS = [
  'method',
  'scheme',
  'host',
  'port',
  'path',
  'name',
  'value',
  'nonce',
  'timestamp',
  'signature',
] as const;
type Mutation = (typeof MUTATIONS)[number];

function mutate(b: Built, kind: Mutation, pos: number, pick: number): Built | null {
  const m: Built = { ...b, oauth: b.oauth.map(([k, v]) => [k, v] as Pair), params: b.params.map((p) => ({ ...p })) };
  const setOauth = (name: string, f: (v: string) => string) => {
    const p = must(
      m.oauth.find(([k]) => k === name),
      name,
    );
    p[1] = f(p[1]);
  };
  switch (kind) {
    case 'method': {
      const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
      const i = pos % m.method.length;
      const others = letters.replace(m.method.charAt(i), '');
      m.method = m.method.slice(0, i) + others.charAt(pick % others.length) + m.method.slice(i + 1);
      return m;
    }
    case 'scheme':
      m.https = !m.https;
      return m;
    case 'host': {
      const i = pos % m.host.length;
      const others = 'abcdefghijklmnopqrstuvwxyz0123456789'.replace(m.host.charAt(i), '');
      m.host = m.host.slice(0, i) + others.charAt(pick % others.length) + m.host.slice(i + 1);
      return m;
    }
    case 'port':
      m.port = m.port === undefined ? 8080 : m.port === 65535 ? 65534 : m.port + 1;
      if (m.port === 80 || m.port === 443) m.port++;
      return m;
    case 'path': {
      // Replace a character outside the %XX escapes (never the leading slash), or append one.
      const escaped = new Set<number>();
      for (let i = 0; i < m.path.length; i++) if (m.path[i] === '%') [i, i + 1, i + 2].forEach((j) => escaped.add(j));
      const safe = Array.from(m.path, (_c, i) => i).filter((i) => i > 0 && !escaped.has(i));
      const ch = 'abcXYZ019-._~'.charAt(pick % 13);
      if (safe.length === 0 || pick % 3 === 0) {
        m.path = m.path + ch;
      } else {
        const i = must(safe[pos % safe.length], 'a position outside the escapes');
        const c = m.path[i] === ch ? (ch === 'a' ? 'b' : 'a') : ch;
        m.path = m.path.slice(0, i) + c + m.path.slice(i + 1);
      }
      return m;
    }
    case 'name':
    case 'value': {
      if (m.params.length === 0) return null;
      const p = must(m.params[pos % m.params.length], 'a parameter');
      if (kind === 'name') {
        p.name = changeOne(p.name, pick, pos);
        if (p.name.startsWith('oauth_')) return null;
      } else p.value = changeOne(p.value, pick, pos);
      return m;
    }
    case 'nonce':
      setOauth('oauth_nonce', (v) => {
        const i = pos % v.length;
        return v.slice(0, i) + (v[i] === 'x' ? 'y' : 'x') + v.slice(i + 1);
      });
      return m;
    case 'timestamp':
      setOauth('oauth_timestamp', (v) => String(Number(v) + (pick % 2 === 0 ? 1 : -1)));
      return m;
    case 'signature':
      setOauth('oauth_signature', (v) => {
        const raw = Buffer.from(v, 'base64');
        const at = pos % raw.length;
        raw[at] = (raw[at] ?? 0) ^ (1 << (pick % 8));
        return raw.toString('base64');
      });
      return m;
  }
}

// --- the properties -------------------------------------------------------------------

describe('signatures made by npm clients verify, and any change breaks them', () => {
  it('verifies every request signed by oauth-1.0a or oauth, with exactly the signed parameters', async () => {
    await fc.assert(
      fc.asyncProperty(requestSpec, async (spec) => {
        const b = signed(spec);
        const parts = build(b);
        const verified = await verifySignedRequest(parts, 'access', '127.0.0.1', deps);
        const expected: Pair[] = [
          ...spec.params.map((p) => [p.name, p.value] as Pair),
          ...b.oauth.filter(([k]) => k !== 'oauth_signature'),
        ];
        expect(sortPairs(verified.params.signed)).toEqual(sortPairs(expected));
        expect(verified.token.user.username).toBe('alice');
      }),
      { numRuns: 400 },
    );
  });

  it('answers signature_invalid to a single change of any signed part', async () => {
    const before = store.calls.claimNonce;
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        requestSpec,
        fc.constantFrom(...MUTATIONS),
        fc.nat(),
        fc.nat(),
        async (spec, kind, pos, pick) => {
          const b = signed(spec);
          const changed = mutate(b, kind, pos, pick);
          fc.pre(changed !== null);
          // The changed request first: had it verified, it would have claimed the nonce.
          expect(await problemOf(build(changed))).toBe('signature_invalid');
          expect(await problemOf(build(b))).toBe('verified');
          checked++;
        },
      ),
      { numRuns: 600 },
    );
    // a failed signature never reaches the nonce claim; each original claimed once
    expect(store.calls.claimNonce - before).toBe(checked);
  });
});
