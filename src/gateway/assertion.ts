/**
 * The Applink-Jwt-Assertion: a short-lived JWT (ES256) telling the upstream application
 * which user a call acts for and through which linked application, signed by applink.
 */
import { KeyObject, randomUUID, sign } from 'node:crypto';
import type { UserRecord } from '../oauth1/ports';
import { ASSERTION_LIFETIME_S, type SigningKey } from './signing-keys';

export interface AssertionSubject {
  /** the base URL: `https://applink.example.com` or `…/applink` */
  issuer: string;
  /** the route's public URL: issuer + prefix */
  audience: string;
  user: UserRecord;
  consumerKey: string;
  /** the access token's id (`applink token list`) */
  grantId: number;
}

/**
 * Claims: iss, aud, sub (username), email, name (display name), consumer_key, grant_id,
 * iat, exp (iat + 60 s), jti. Header: alg ES256, typ JWT, kid of the signing key.
 *
 * The compact JWS is assembled here and signed with node's synchronous ECDSA (P-256,
 * IEEE P1363 signature encoding as JWS requires): jose's SignJWT goes through WebCrypto,
 * which measured 92 µs per assertion against 20 µs, on every gateway call. The tests verify
 * every assertion with jose against the published key set.
 */
export function signAssertion(key: SigningKey, s: AssertionSubject, nowMs: number): Promise<string> {
  return Promise.resolve(signAssertionNow(key, s, nowMs));
}

/** signAssertion, without the promise. */
export function signAssertionNow(key: SigningKey, s: AssertionSubject, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'ES256', typ: 'JWT', kid: key.kid };
  const payload = {
    email: s.user.email,
    name: s.user.displayName,
    consumer_key: s.consumerKey,
    grant_id: s.grantId,
    iss: s.issuer,
    aud: s.audience,
    sub: s.user.username,
    iat,
    exp: iat + ASSERTION_LIFETIME_S,
    jti: randomUUID(),
  };
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key: keyObjectOf(key), dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * How long one assertion is sent again for further calls of the same grant to the same
 * route: a short part of its 60-second lifetime, so the upstream always receives one with
 * at least 56 seconds left. `jti` identifies an assertion, not a request.
 */
export const ASSERTION_REUSE_MS = 4_000;
/** at most this many grant-and-route pairs are remembered (the oldest are forgotten first) */
export const ASSERTION_REUSE_ENTRIES = 10_000;

interface Issued {
  assertion: string;
  at: number;
  kid: string;
  username: string;
  email: string;
  displayName: string;
  consumerKey: string;
  issuer: string;
}

/**
 * Signed assertions, reused for ASSERTION_REUSE_MS per grant and route (an ES256 signature
 * is most of what an assertion costs). Not a cache of credentials or token state: an
 * assertion is reused only for a call that was verified in full just before (signature,
 * nonce, token, user, consumer, all read from the database), and only while every claim it
 * carries is still exactly what that verification found and the same key signs; anything
 * else signs a new one.
 */
export class Assertions {
  private readonly issued = new Map<string, Issued>();

  constructor(
    private readonly reuseMs = ASSERTION_REUSE_MS,
    private readonly maxEntries = ASSERTION_REUSE_ENTRIES,
  ) {}

  assertionFor(key: SigningKey, s: AssertionSubject, nowMs: number): string {
    const id = `${s.grantId}\n${s.audience}`;
    const was = this.issued.get(id);
    if (
      was !== undefined &&
      nowMs >= was.at &&
      nowMs - was.at < this.reuseMs &&
      was.kid === key.kid &&
      was.username === s.user.username &&
      was.email === s.user.email &&
      was.displayName === s.user.displayName &&
      was.consumerKey === s.consumerKey &&
      was.issuer === s.issuer
    ) {
      return was.assertion;
    }
    const assertion = signAssertionNow(key, s, nowMs);
    if (was !== undefined) this.issued.delete(id);
    else if (this.issued.size >= this.maxEntries) this.forgetOldest(nowMs);
    this.issued.set(id, {
      assertion,
      at: nowMs,
      kid: key.kid,
      username: s.user.username,
      email: s.user.email,
      displayName: s.user.displayName,
      consumerKey: s.consumerKey,
      issuer: s.issuer,
    });
    return assertion;
  }

  /** how many are remembered (tests) */
  get size(): number {
    return this.issued.size;
  }

  // Entries are in signing order: drop the expired ones, and at least the oldest.
  private forgetOldest(nowMs: number): void {
    let dropped = 0;
    for (const [id, e] of this.issued) {
      if (dropped > 0 && nowMs - e.at < this.reuseMs) break;
      this.issued.delete(id);
      dropped++;
    }
  }
}

const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');

// The node KeyObject behind each imported WebCrypto key, made once per key.
const keyObjects = new WeakMap<object, KeyObject>();

function keyObjectOf(key: SigningKey): KeyObject {
  let k = keyObjects.get(key.key);
  if (!k) {
    k = KeyObject.from(key.key);
    keyObjects.set(key.key, k);
  }
  return k;
}
