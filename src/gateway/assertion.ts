/**
 * The Applink-Jwt-Assertion: a short-lived JWT (ES256) telling the upstream application
 * which user a call acts for and through which linked application, signed by applink.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { UserRecord } from '../oauth1/ports';
import { ASSERTION_LIFETIME_S, type SigningKey } from './keys';

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
 */
export function signAssertion(key: SigningKey, s: AssertionSubject, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({
    email: s.user.email,
    name: s.user.displayName,
    consumer_key: s.consumerKey,
    grant_id: s.grantId,
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid })
    .setIssuer(s.issuer)
    .setAudience(s.audience)
    .setSubject(s.user.username)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_S)
    .setJti(randomUUID())
    .sign(key.key);
}
