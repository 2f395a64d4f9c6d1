/**
 * A consumer's RSA public key (RSA-SHA1 / RSA-SHA256, RFC 5849 §3.4.3), validated once
 * where a key enters the system (consumer create/edit) and again where a stored one is
 * read. Pure: PEM text in, key or reason out; callers turn the reason into their own error.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

/** Shortest RSA modulus accepted (NIST SP 800-131A: under 2048 bits is disallowed). */
export const MIN_RSA_BITS = 2048;
/** Longest: verification cost grows with the square of the size; 16384 is far past any real key. */
export const MAX_RSA_BITS = 16384;
/** Longest PEM text looked at (a 16384-bit certificate with a long chain of names fits). */
export const MAX_PEM_LENGTH = 65_536;

export type ConsumerKeyResult = { ok: true; key: KeyObject; bits: number } | { ok: false; reason: string };

// What may be pasted: a public key (SPKI or PKCS#1) or an X.509 certificate. A private key
// would be accepted by createPublicKey (it derives the public half) and then stored: refused.
const ACCEPTED_LABEL = /^-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----\r?\n/;
const ANY_LABEL = /-----BEGIN ([A-Z0-9 ]+)-----/g;

export function parseConsumerPublicKey(pem: string): ConsumerKeyResult {
  const refuse = (reason: string): ConsumerKeyResult => ({ ok: false, reason });
  const text = pem.trim();
  if (text.length === 0 || text.length > MAX_PEM_LENGTH || !ACCEPTED_LABEL.test(text)) {
    return refuse('the public key must be an RSA public key or certificate in PEM form');
  }
  for (const m of text.matchAll(ANY_LABEL)) {
    if (m[1]?.includes('PRIVATE')) return refuse('that is a private key: paste the public key or certificate only');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    return refuse('the public key must be an RSA public key or certificate in PEM form');
  }
  // 'rsa' only: RSA-PSS keys cannot make the PKCS#1 v1.5 signatures RSA-SHA1/256 are.
  if (key.asymmetricKeyType !== 'rsa') {
    return refuse(`the public key must be an RSA key (this one is ${key.asymmetricKeyType ?? 'unknown'})`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return refuse(`the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  if (bits > MAX_RSA_BITS) return refuse(`the RSA key has ${bits} bits; at most ${MAX_RSA_BITS} are accepted`);
  const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (e < 3n || e % 2n === 0n) return refuse('the RSA key has an invalid public exponent');
  return { ok: true, key, bits };
}
