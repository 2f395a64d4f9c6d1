/**
 * Signature methods, RFC 5849 §3.4.2-§3.4.4 plus the SHA-256 variants, and the
 * `oauth_body_hash` extension. Comparisons of secrets are constant-time.
 */
import { createHash, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { percentEncode } from './encoding';

export const SIGNATURE_METHODS = ['HMAC-SHA1', 'HMAC-SHA256', 'RSA-SHA1', 'RSA-SHA256', 'PLAINTEXT'] as const;
export type SignatureMethod = (typeof SIGNATURE_METHODS)[number];

export const isSignatureMethod = (m: string): m is SignatureMethod =>
  (SIGNATURE_METHODS as readonly string[]).includes(m);

export const usesSharedSecret = (m: SignatureMethod): boolean => m !== 'RSA-SHA1' && m !== 'RSA-SHA256';

const DIGEST: Readonly<Record<SignatureMethod, 'sha1' | 'sha256'>> = {
  'HMAC-SHA1': 'sha1',
  'HMAC-SHA256': 'sha256',
  'RSA-SHA1': 'sha1',
  'RSA-SHA256': 'sha256',
  PLAINTEXT: 'sha1',
};

/** §3.4.2 and §3.4.4: the shared key is encode(consumer secret) & encode(token secret). */
export function sharedKey(consumerSecret: string, tokenSecret: string): string {
  return `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
}

/** §3.4.2: HMAC over the base string, base64. */
export function hmacSignature(
  method: 'HMAC-SHA1' | 'HMAC-SHA256',
  baseString: string,
  consumerSecret: string,
  tokenSecret: string,
): string {
  return createHmac(DIGEST[method], sharedKey(consumerSecret, tokenSecret)).update(baseString).digest('base64');
}

/** §3.4.4: PLAINTEXT's signature is the shared key itself. */
export const plaintextSignature = sharedKey;

export interface VerificationKeys {
  consumerSecret: string | null;
  tokenSecret: string;
  publicKey: KeyObject | null;
}

/**
 * Verifies `signature` for `baseString`. Always does the full amount of work for the
 * method, even when a key is missing, so failures take as long as successes.
 */
export function verifySignature(
  method: SignatureMethod,
  baseString: string,
  signature: string,
  keys: VerificationKeys,
): boolean {
  switch (method) {
    case 'HMAC-SHA1':
    case 'HMAC-SHA256': {
      const expected = hmacSignature(method, baseString, keys.consumerSecret ?? '', keys.tokenSecret);
      return constantTimeEqual(expected, signature) && keys.consumerSecret !== null;
    }
    case 'PLAINTEXT': {
      const expected = plaintextSignature(keys.consumerSecret ?? '', keys.tokenSecret);
      return constantTimeEqual(expected, signature) && keys.consumerSecret !== null;
    }
    case 'RSA-SHA1':
    case 'RSA-SHA256': {
      if (!keys.publicKey) return false;
      const raw = Buffer.from(signature, 'base64');
      if (raw.length === 0) return false;
      try {
        return verify(DIGEST[method], Buffer.from(baseString, 'utf8'), keys.publicKey, raw);
      } catch {
        return false;
      }
    }
  }
}

/** `oauth_body_hash`: base64 SHA-1 (or SHA-256 for the *-SHA256 methods) of the raw body. */
export function bodyHash(method: SignatureMethod, body: Buffer | undefined): string {
  return createHash(DIGEST[method])
    .update(body ?? Buffer.alloc(0))
    .digest('base64');
}

/** Constant-time string comparison (the length of the expected value is not secret). */
export function constantTimeEqual(expected: string, actual: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(actual, 'utf8');
  if (a.length !== b.length) {
    timingSafeEqual(a, a); // same work either way
    return false;
  }
  return timingSafeEqual(a, b);
}
