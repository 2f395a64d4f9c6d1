// Hostile input against the real server, on SQLite and on PostgreSQL: malformed heads, bad
// encodings, protocol parameters in two places, huge inputs, wrong content types and path
// tricks. Every case names the status and oauth_problem it must get; none may get a 5xx,
// and the server must still answer afterwards.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedConsumer, seedUser, startTestServer, testDatabases, type TestServer } from '../helpers/server';
import { rawExchange, rawRequest, type RawAnswer } from '../helpers/raw-http';
import { buildSignedRequest, nonce, signedFetch } from '../helpers/sign';
import { approve, browse, CookieJar, csrfOf, form, verifierFrom } from '../helpers/browser';
import { must } from '../helpers/must';

const RT = '/oauth/request-token';
const AT = '/oauth/access-token';
const API = '/rest/api/1/myself';
const now = () => String(Math.floor(Date.now() / 1000));

/** A complete OAuth header (so parsing gets past presence checks), with overrides. */
function oauthHeader(over: Record<string, string | null> = {}, raw = false): string {
  const p: Record<string, string | null> = {
    oauth_consumer_key: 'hmac',
    oauth_nonce: nonce(),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: now(),
    oauth_version: '1.0',
    oauth_callback: 'oob',
    oauth_signature: 'c2lnbmF0dXJl',
    ...over,
  };
  const enc = (v: string) => (raw ? v : encodeURIComponent(v));
  return (
    'OAuth ' +
    Object.entries(p)
      .filter((e): e is [string, string] => e[1] !== null)
      .map(([k, v]) => `${k}="${enc(v)}"`)
      .join(', ')
  );
}

/** The same parameters as a form (for query and body placement). */
function oauthForm(over: Record<string, string | null> = {}): string {
  const p: Record<string, string | null> = {
    oauth_consumer_key: 'hmac',
    oauth_nonce: nonce(),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: now(),
    oauth_callback: 'oob',
    oauth_signature: 'c2lnbmF0dXJl',
    ...over,
  };
  return Object.entries(p)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

const FORM: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded'];
const utf8AsLatin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

interface Case {
  name: string;
  /** the bytes to send, given the server's URL */
  bytes: (base: string) => Buffer | string;
  status: number;
  /** the oauth_problem of the answer; null for answers that are not protocol answers (404) */
  problem: string | null;
}

const req =
  (method: string, target: string, headers: Array<[string, string]> = [], body?: Buffer | string) =>
  (base: string) =>
    rawRequest(base, method, target, headers, body);

const CASES: Case[] = [
  // Malformed heads
  {
    name: 'Authorization value without quotes',
    bytes: req('POST', RT, [['Authorization', 'OAuth oauth_consumer_key=hmac']]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'Authorization elements without commas',
    bytes: req('POST', RT, [['Authorization', 'OAuth oauth_consumer_key="a" oauth_nonce="b"']]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'Authorization with an unterminated quote',
    bytes: req('POST', RT, [['Authorization', 'OAuth oauth_consumer_key="hmac']]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'Authorization of another scheme',
    bytes: req('POST', RT, [['Authorization', 'Basic YWxpY2U6c2VjcmV0']]),
    status: 400,
    problem: 'parameter_absent',
  },
  {
    name: 'empty OAuth Authorization',
    bytes: req('POST', RT, [['Authorization', 'OAuth']]),
    status: 400,
    problem: 'parameter_absent',
  },
  {
    name: 'two Authorization headers',
    bytes: req('POST', RT, [
      ['Authorization', oauthHeader()],
      ['Authorization', oauthHeader()],
    ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'two Host headers',
    bytes: (b) =>
      rawRequest(b, 'POST', RT, [
        ['Host', new URL(b).host],
        ['Host', 'evil.example'],
        ['Authorization', oauthHeader()],
      ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'two Content-Type headers',
    bytes: req('POST', RT, [FORM, ['Content-Type', 'text/plain']], oauthForm()),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'Host with a path in it',
    bytes: req('POST', RT, [
      ['Host', 'evil.example/x'],
      ['Authorization', oauthHeader()],
    ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'Host with a quote',
    bytes: req('POST', RT, [
      ['Host', 'a"b'],
      ['Authorization', oauthHeader()],
    ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a NUL byte in a header value',
    bytes: req('POST', RT, [
      ['X-Test', 'a\u0000b'],
      ['Authorization', oauthHeader()],
    ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a space in a header name',
    bytes: req('POST', RT, [
      ['X Bad', 'x'],
      ['Authorization', oauthHeader()],
    ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  { name: 'not HTTP at all', bytes: () => 'HELLO THERE\r\n\r\n', status: 400, problem: 'parameter_rejected' },
  {
    name: 'an unknown method',
    bytes: req('BREW', RT, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'Content-Length and Transfer-Encoding together',
    bytes: req('POST', RT, [FORM, ['Content-Length', '3'], ['Transfer-Encoding', 'chunked']], '0\r\n\r\n'),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an Authorization header over 8 KiB (head under 16 KiB)',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ x_pad: 'p'.repeat(9000) })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a head over 16 KiB',
    bytes: req('POST', RT, [
      ['X-Pad', 'p'.repeat(20_000)],
      ['Authorization', oauthHeader()],
    ]),
    status: 431,
    problem: 'parameter_rejected',
  },
  {
    name: 'a request line over 16 KiB',
    bytes: req('GET', `${RT}?pad=${'p'.repeat(20_000)}`, [['Authorization', oauthHeader()]]),
    status: 431,
    problem: 'parameter_rejected',
  },
  {
    name: 'raw UTF-8 bytes in an Authorization value',
    bytes: req('POST', RT, [['Authorization', utf8AsLatin1(oauthHeader({ oauth_nonce: 'nonce-é' }, true))]]),
    status: 400,
    problem: 'parameter_rejected',
  },

  // Bad encodings
  {
    name: 'a % without hex digits in the header',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_nonce: '%zz' }, true)]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a lone % at the end of a header value',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_nonce: 'abc%' }, true)]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a truncated UTF-8 sequence in the query',
    bytes: req('POST', `${RT}?a=%E0%A4`, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an invalid UTF-8 sequence in the query',
    bytes: req('POST', `${RT}?a=%C3%28`, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an overlong UTF-8 encoding of /',
    bytes: req('POST', `${RT}?a=%C0%AF`, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an encoded UTF-16 surrogate in the header',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_nonce: '%ED%A0%80' }, true)]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a % without hex digits in a form name',
    bytes: req('POST', RT, [FORM], `${oauthForm()}&%G1=x`),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'raw invalid UTF-8 in a form body',
    bytes: req('POST', RT, [FORM], Buffer.concat([Buffer.from(`${oauthForm()}&a=`), Buffer.from([0xff, 0xfe])])),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an encoded invalid byte in a form body',
    bytes: req('POST', RT, [FORM], `${oauthForm()}&a=%FF`),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a NUL in the consumer key',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_consumer_key: 'hm\u0000ac' })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a NUL in the nonce',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_nonce: 'n\u0000n' })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a NUL in the token',
    bytes: req('POST', AT, [['Authorization', oauthHeader({ oauth_token: 't\u0000t', oauth_verifier: 'v' })]]),
    status: 401,
    problem: 'token_rejected',
  },

  // Protocol parameters in two places, or twice
  {
    name: 'oauth_nonce in the header and the query',
    bytes: req('POST', `${RT}?oauth_nonce=x`, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'oauth_ parameters in the header and the body',
    bytes: req('POST', RT, [FORM, ['Authorization', oauthHeader()]], 'oauth_verifier=x'),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'oauth_ parameters in the query and the body',
    bytes: req('POST', `${RT}?${oauthForm()}`, [FORM], 'oauth_token=x'),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'oauth_nonce twice in the body',
    bytes: req('POST', RT, [FORM], `${oauthForm()}&oauth_nonce=again`),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'oauth_nonce twice in the header',
    bytes: req('POST', RT, [['Authorization', `${oauthHeader()}, oauth_nonce="again"`]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an ordinary parameter in query and body is fine (then the signature fails)',
    bytes: req('POST', `${RT}?a=1`, [FORM, ['Authorization', oauthHeader()]], 'a=2'),
    status: 401,
    problem: 'signature_invalid',
  },

  // Huge inputs
  {
    name: 'a form body over 64 KiB',
    bytes: req('POST', RT, [FORM], `${oauthForm()}&pad=${'p'.repeat(70_000)}`),
    status: 413,
    problem: 'parameter_rejected',
  },
  {
    name: 'a Content-Length of 10 MB (refused before reading)',
    bytes: req('POST', RT, [FORM, ['Content-Length', '10000000']]),
    status: 413,
    problem: 'parameter_rejected',
  },
  {
    name: 'a chunked body over 64 KiB',
    bytes: (b) =>
      rawRequest(
        b,
        'POST',
        RT,
        [FORM, ['Transfer-Encoding', 'chunked']],
        `${(70_000).toString(16)}\r\n${'p'.repeat(70_000)}\r\n0\r\n\r\n`,
      ),
    status: 413,
    problem: 'parameter_rejected',
  },
  {
    name: 'a gzip bomb (1 MB of zeros in 1 KB)',
    bytes: req('POST', RT, [FORM, ['Content-Encoding', 'gzip']], gzipSync(Buffer.alloc(1_000_000, 0x30))),
    status: 413,
    problem: 'parameter_rejected',
  },
  {
    name: 'a body that is not gzip',
    bytes: req('POST', RT, [FORM, ['Content-Encoding', 'gzip']], 'not gzip at all'),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an unknown Content-Encoding',
    bytes: req('POST', RT, [FORM, ['Content-Encoding', 'compress']], 'x=1'),
    status: 415,
    problem: 'parameter_rejected',
  },
  {
    name: '2000 form parameters',
    bytes: req(
      'POST',
      RT,
      [FORM, ['Authorization', oauthHeader()]],
      Array.from({ length: 2000 }, (_, i) => `p${i}=`).join('&'),
    ),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: '1001 query parameters',
    bytes: req('GET', `${RT}?${'a&'.repeat(1000)}a`, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an oauth_callback of 3000 characters',
    bytes: req('POST', RT, [
      ['Authorization', oauthHeader({ oauth_callback: `https://x.example/${'c'.repeat(3000)}` })],
    ]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an oauth_nonce of 256 characters',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_nonce: 'n'.repeat(256) })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an oauth_nonce with a space',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_nonce: 'a b' })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a consumer key of 256 characters',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_consumer_key: 'k'.repeat(256) })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an oauth_token of 256 characters',
    bytes: req('POST', AT, [['Authorization', oauthHeader({ oauth_token: 't'.repeat(256), oauth_verifier: 'v' })]]),
    status: 401,
    problem: 'token_rejected',
  },
  {
    name: 'a 13-digit timestamp',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_timestamp: '1'.repeat(13) })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a negative timestamp',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_timestamp: '-1' })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'a timestamp in exponent notation',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_timestamp: '1e9' })]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'timestamp 0',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_timestamp: '0' })]]),
    status: 401,
    problem: 'timestamp_refused',
  },
  {
    name: 'oauth_version 2.0',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_version: '2.0' })]]),
    status: 400,
    problem: 'version_rejected',
  },
  {
    name: 'an unknown signature method',
    bytes: req('POST', RT, [['Authorization', oauthHeader({ oauth_signature_method: 'HMAC-MD5' })]]),
    status: 400,
    problem: 'signature_method_rejected',
  },

  // Wrong content types: parameters in such bodies are not read
  {
    name: 'protocol parameters in a JSON body',
    bytes: req(
      'POST',
      RT,
      [['Content-Type', 'application/json']],
      JSON.stringify({ oauth_consumer_key: 'hmac', oauth_signature: 'x' }),
    ),
    status: 400,
    problem: 'parameter_absent',
  },
  {
    name: 'protocol parameters in a multipart body',
    bytes: req(
      'POST',
      RT,
      [['Content-Type', 'multipart/form-data; boundary=XX']],
      '--XX\r\nContent-Disposition: form-data; name="oauth_consumer_key"\r\n\r\nhmac\r\n--XX--\r\n',
    ),
    status: 400,
    problem: 'parameter_absent',
  },
  {
    name: 'a form-looking text/plain body',
    bytes: req('POST', RT, [['Content-Type', 'text/plain']], oauthForm()),
    status: 400,
    problem: 'parameter_absent',
  },
  {
    name: 'a form-looking body without Content-Type',
    bytes: req('POST', RT, [], oauthForm()),
    status: 400,
    problem: 'parameter_absent',
  },
  {
    name: 'a Latin-1 form body declared as such',
    bytes: req(
      'POST',
      RT,
      [['Content-Type', 'application/x-www-form-urlencoded; charset=ISO-8859-1']],
      Buffer.concat([Buffer.from(`${oauthForm()}&name=Zo`), Buffer.from([0xeb])]),
    ),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an upper-case form media type is a form (then the signature fails)',
    bytes: req('POST', RT, [['Content-Type', 'APPLICATION/X-WWW-FORM-URLENCODED']], oauthForm()),
    status: 401,
    problem: 'signature_invalid',
  },

  // Page forms have their own, smaller limits
  {
    name: 'a sign-in form with 60 fields',
    bytes: req('POST', '/login', [FORM], Array.from({ length: 60 }, (_, i) => `f${i}=x`).join('&')),
    status: 413,
    problem: null,
  },
  {
    name: 'a sign-in form over 64 KiB',
    bytes: req('POST', '/login', [FORM], `username=${'u'.repeat(70_000)}`),
    status: 413,
    problem: null,
  },

  // Path tricks: nothing is normalised into another route
  {
    name: 'dot segments',
    bytes: req('GET', '/oauth/../rest/api/1/myself', [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'a single dot segment',
    bytes: req('POST', '/oauth/./request-token', [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'an encoded dash',
    bytes: req('POST', '/oauth/request%2Dtoken', [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'encoded slashes and dots',
    bytes: req('GET', '/rest/api/1/myself%2F..%2F..%2Foauth', [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'a NUL in the path',
    bytes: req('POST', '/oauth/request-token%00', [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'a path parameter',
    bytes: req('POST', '/oauth/request-token;jsessionid=x', [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'a doubled leading slash',
    bytes: req('POST', `/${RT}`, [['Authorization', oauthHeader()]]),
    status: 404,
    problem: null,
  },
  {
    name: 'an absolute-form target',
    bytes: (b) => rawRequest(b, 'POST', `http://evil.example${RT}`, [['Authorization', oauthHeader()]]),
    status: 400,
    problem: 'parameter_rejected',
  },
  {
    name: 'an undecodable route parameter',
    bytes: req('POST', '/profile/authorized-apps/%E0%A4/revoke', [FORM], '_csrf=x'),
    status: 400,
    problem: null,
  },
  { name: 'an asterisk target', bytes: req('OPTIONS', '*'), status: 404, problem: null },
];

describe.each(await testDatabases())('hostile input (%s)', (database) => {
  let s: TestServer;
  let consumer: { key: string; secret: string | null };
  const statuses: number[] = [];

  beforeAll(async () => {
    s = await startTestServer({ database });
    await seedUser(s, 'alice');
    consumer = await seedConsumer(s, 'hmac');
  });
  afterAll(() => s.stop());

  function expectAnswer(
    r: RawAnswer | { status: number; params: Record<string, string> },
    status: number,
    problem: string | null,
  ) {
    statuses.push(r.status);
    expect(r.status, JSON.stringify(r.params)).toBe(status);
    if (problem) {
      expect(r.params.oauth_problem).toBe(problem);
      expect(r.params.oauth_problem_advice).toBeTruthy();
      if ('headers' in r && !(r.headers instanceof Headers))
        expect(r.headers['www-authenticate']).toContain(`oauth_problem="${problem}"`);
    }
  }

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await rawExchange(s.url, c.bytes(s.url));
    expectAnswer(r, c.status, c.problem);
  });

  describe('signed requests carrying hostile values', () => {
    const signed = (path: string, o: Parameters<typeof signedFetch>[1]) => signedFetch(`${s.url}${path}`, o);
    const asConsumer = () => ({ consumerKey: consumer.key, consumerSecret: consumer.secret, method: 'POST' });

    it('a callback with a NUL or a newline', async () => {
      for (const cb of ['https://cb.example/a\u0000b', 'https://cb.example/a\r\nSet-Cookie: x=y']) {
        const r = await signed(RT, { ...asConsumer(), oauth: { oauth_callback: cb } });
        expectAnswer(r, 400, 'parameter_rejected');
        expect(r.params.oauth_parameters_rejected).toBe('oauth_callback');
      }
    });

    it('a javascript: callback', async () => {
      const r = await signed(RT, { ...asConsumer(), oauth: { oauth_callback: 'javascript:alert(1)' } });
      expectAnswer(r, 400, 'parameter_rejected');
    });

    it('oauth_body_hash with a form body', async () => {
      const r = await signed(RT, {
        ...asConsumer(),
        oauth: { oauth_callback: 'oob', oauth_body_hash: '2jmj7l5rSw0yVb/vlWAYkK/YBwk=' },
        form: [['a', '1']],
      });
      expectAnswer(r, 400, 'parameter_rejected');
    });

    it('an oauth_body_hash that does not match the body', async () => {
      const r = await signed(RT, {
        ...asConsumer(),
        oauth: { oauth_callback: 'oob', oauth_body_hash: '2jmj7l5rSw0yVb/vlWAYkK/YBwk=' },
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expectAnswer(r, 401, 'signature_invalid');
    });

    it('a display name with a NUL, and one too long', async () => {
      const rt = await signed(RT, { ...asConsumer(), oauth: { oauth_callback: 'oob' } });
      const verifier = await verifierFrom(
        await approve(s.url, must(rt.params.oauth_token, 'the request token'), 'alice'),
      );
      const at = await signed(AT, {
        ...asConsumer(),
        token: rt.params.oauth_token,
        tokenSecret: rt.params.oauth_token_secret,
        oauth: { oauth_verifier: verifier },
      });
      expect(at.status).toBe(200);
      const asToken = { ...asConsumer(), token: at.params.oauth_token, tokenSecret: at.params.oauth_token_secret };
      for (const name of ['Zo\u0000e', 'x'.repeat(201), '   ']) {
        expectAnswer(await signed(API, { ...asToken, form: [['displayName', name]] }), 400, 'parameter_rejected');
      }
      expect((await s.services.users.findByUsername('alice'))?.displayName).toBe('alice Example');
    });

    it('a correctly signed request replayed to a look-alike path fails its signature', async () => {
      for (const path of ['/OAUTH/REQUEST-TOKEN', `${RT}/`, '/plugins/servlet/oauth/request-token']) {
        const built = buildSignedRequest(`${s.url}${RT}`, { ...asConsumer(), oauth: { oauth_callback: 'oob' } });
        const res = await fetch(`${s.url}${path}`, built.init);
        const params = Object.fromEntries(new URLSearchParams(await res.text()));
        expectAnswer({ status: res.status, params }, 401, 'signature_invalid');
      }
    });

    it('a sign-in with a NUL or an absurdly long username is refused like a wrong password', async () => {
      for (const username of ['ali\u0000ce', 'a'.repeat(5000)]) {
        const jar = new CookieJar();
        const page = await browse(jar, `${s.url}/login`);
        const res = await browse(
          jar,
          `${s.url}/login`,
          form({ _csrf: csrfOf(await page.text()), username, password: 'x' }),
        );
        statuses.push(res.status);
        expect(res.status).toBe(401);
      }
    });
  });

  it('answered every case without a 5xx, and still serves', async () => {
    expect(statuses.length).toBeGreaterThan(CASES.length);
    expect(statuses.filter((st) => st >= 500)).toEqual([]);
    const health = await fetch(`${s.url}/readyz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).not.toMatch(/applink_http_requests_total\{[^}]*status="5\d\d"/);
  });
});

describe('hostile client addresses behind a trusted proxy', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_TRUST_PROXY: 'on' });
    await seedConsumer(s, 'hmac');
  });
  afterAll(() => s.stop());

  it.each([
    ['not an address', 'not-an-address'],
    ['a long string', 'x'.repeat(200)],
    ['a NUL', '10.0.0.1\u0000'],
  ])('X-Forwarded-For with %s is parameter_rejected', async (_n, xff) => {
    const r = await rawExchange(
      s.url,
      rawRequest(s.url, 'POST', RT, [
        ['X-Forwarded-For', xff],
        ['Authorization', oauthHeader()],
      ]),
    );
    expect(r.status === 400 && r.params.oauth_problem === 'parameter_rejected', JSON.stringify(r)).toBe(true);
  });

  it('a valid forwarded address is accepted and recorded', async () => {
    const r = await rawExchange(
      s.url,
      rawRequest(s.url, 'POST', RT, [
        ['X-Forwarded-For', '203.0.113.9'],
        ['Authorization', oauthHeader()],
      ]),
    );
    expect(r.params.oauth_problem).toBe('signature_invalid');
  });
});
