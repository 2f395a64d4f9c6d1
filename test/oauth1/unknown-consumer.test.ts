// An unknown consumer key (or an unknown token) takes the same path as a known one: one
// credential lookup, one full signature computation with stand-in keys of the same kind,
// and no nonce claim; only then is the answer chosen. No timing is measured: what is
// shown is that the same work is done, which is what makes the timing the same.
import { createHmac, sign } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { verifySignedRequest } from '../../src/oauth1/flows/verify-request';
import type { FlowDeps } from '../../src/oauth1/ports';
import { OAuthProblem } from '../../src/oauth1/problems';
import * as signature from '../../src/oauth1/signature';
import { baseStringUri, signatureBaseString } from '../../src/oauth1/base-string';
import type { RequestParts } from '../../src/oauth1/params';
import { percentEncode } from '../../src/oauth1/encoding';
import { MemoryStore } from '../helpers/memory-store';
import { rsaKeys } from '../helpers/server';
import { must } from '../helpers/must';

vi.mock('../../src/oauth1/signature', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/oauth1/signature')>();
  return { ...real, verifySignature: vi.fn(real.verifySignature) };
});
const verifySpy = vi.mocked(signature.verifySignature);

const store = new MemoryStore();
const known = store.addConsumer('known', { secret: 'known-secret' });
store.addConsumer('known-rsa', { publicKeyPem: rsaKeys.publicKey });
store.addAccessToken(known, 'access-token', 'access-secret');
const deps: FlowDeps = {
  store,
  clock: { now: () => Date.now() },
  options: { timestampWindow: 300, lastUsedThrottle: 0 },
};

let n = 0;
function request(consumerKey: string, method: string, token?: string): RequestParts {
  const oauth: Array<[string, string]> = [
    ['oauth_consumer_key', consumerKey],
    ['oauth_nonce', `nonce-${++n}`],
    ['oauth_signature_method', method],
    ['oauth_timestamp', String(Math.floor(Date.now() / 1000))],
    ...(token ? ([['oauth_token', token]] as Array<[string, string]>) : []),
  ];
  const base = signatureBaseString('GET', baseStringUri('https://api.example', '/r'), oauth);
  // A signature made with some key that is not the consumer's.
  const sig = method.startsWith('RSA')
    ? sign('sha1', Buffer.from(base), rsaKeys.privateKey).toString('base64')
    : createHmac('sha1', 'not-the-secret&').update(base).digest('base64');
  const header = [...oauth, ['oauth_signature', sig] as const].map(([k, v]) => `${k}="${percentEncode(v)}"`).join(', ');
  return { method: 'GET', origin: 'https://api.example', target: '/r', authorization: `OAuth ${header}` };
}

async function outcome(parts: RequestParts, kind: 'access' | null) {
  const before = { ...store.calls };
  verifySpy.mockClear();
  let code = 'verified';
  try {
    await verifySignedRequest(parts, kind, '127.0.0.1', deps);
  } catch (e) {
    if (!(e instanceof OAuthProblem)) throw e;
    code = e.code;
  }
  expect(verifySpy).toHaveBeenCalledTimes(1);
  const [method, baseString, , keys] = must(verifySpy.mock.calls[0], 'the signature check');
  return {
    code,
    method,
    baseString,
    keys,
    lookups: store.calls.findCredentials - before.findCredentials,
    nonceClaims: store.calls.claimNonce - before.claimNonce,
    work: must(verifySpy.mock.results[0], "the signature check's result").type,
  };
}

beforeEach(() => verifySpy.mockClear());

describe('unknown consumers and tokens take the known path', () => {
  it('HMAC: an unknown consumer key is looked up and a full HMAC computed with a stand-in secret', async () => {
    const k = await outcome(request('known', 'HMAC-SHA1'), null);
    const u = await outcome(request('no-such-consumer', 'HMAC-SHA1'), null);
    expect(k.code).toBe('signature_invalid');
    expect(u.code).toBe('consumer_key_unknown');
    for (const o of [k, u]) {
      expect(o.lookups).toBe(1);
      expect(o.nonceClaims).toBe(0);
      expect(o.method).toBe('HMAC-SHA1');
      expect(o.work).toBe('return');
      // a real secret of the same kind, so the HMAC is computed over a real key
      expect(typeof o.keys.consumerSecret).toBe('string');
      expect(must(o.keys.consumerSecret, 'the consumer secret').length).toBeGreaterThan(0);
    }
    expect(u.keys.consumerSecret).not.toBe('known-secret');
    // the same base string shape: only the consumer key and nonce differ
    expect(u.baseString.replace(/no-such-consumer|nonce-\d+/g, '*')).toBe(
      k.baseString.replace(/known|nonce-\d+/g, '*'),
    );
  });

  it('RSA: an unknown consumer key is verified against a stand-in RSA public key', async () => {
    const k = await outcome(request('known-rsa', 'RSA-SHA1'), null);
    const u = await outcome(request('no-such-consumer', 'RSA-SHA1'), null);
    expect(k.code).toBe('verified');
    expect(u.code).toBe('consumer_key_unknown');
    for (const o of [k, u]) {
      expect(o.lookups).toBe(1);
      expect(o.keys.publicKey?.asymmetricKeyType).toBe('rsa');
    }
    expect(k.nonceClaims).toBe(1);
    expect(u.nonceClaims).toBe(0);
    expect(must(u.keys.publicKey, 'the stand-in public key').asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('an unknown access token is checked with a stand-in token secret, not an empty one', async () => {
    const k = await outcome(request('known', 'HMAC-SHA1', 'access-token'), 'access');
    const u = await outcome(request('known', 'HMAC-SHA1', 'no-such-token'), 'access');
    expect(k.code).toBe('signature_invalid');
    expect(u.code).toBe('token_rejected');
    expect(k.keys.tokenSecret).toBe('access-secret');
    expect(u.keys.tokenSecret.length).toBeGreaterThanOrEqual(32);
    expect(u.keys.consumerSecret).toBe('known-secret');
    for (const o of [k, u]) expect(o.nonceClaims).toBe(0);
  });

  it('a disabled consumer is answered only after its signature was computed', async () => {
    const known = must(store.consumers.get('known'), 'the known consumer');
    known.disabled = true;
    try {
      const o = await outcome(request('known', 'HMAC-SHA1'), null);
      expect(o.code).toBe('consumer_key_rejected');
      expect(o.lookups).toBe(1);
    } finally {
      known.disabled = false;
    }
  });
});
