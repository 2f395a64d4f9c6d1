/**
 * Verifies an identity-aware proxy's assertion (a JWT): RS256 or ES256 only, signature by
 * a key of the configured key set, exact `iss`, one of the configured `aud`, `exp`
 * required, `nbf` honoured, both with a small clock tolerance. Returns the email, or a
 * refusal reason from a fixed list; never throws for a bad token, never echoes it.
 */
import { errors, jwtVerify } from 'jose';
import type { KeySet } from './key-set';
import { ServiceError } from '../errors';
import { displayNameField, normaliseEmail } from '../fields';

export const ALGORITHMS = ['RS256', 'ES256'];
/** Seconds of clock skew accepted between the proxy and us, for `exp` and `nbf`. */
export const CLOCK_TOLERANCE_S = 30;
/** Far above any real assertion (Cloudflare's are about 1 KB); larger is refused unread. */
export const MAX_ASSERTION_LENGTH = 8_192;

export type RefusalReason =
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_claims'
  | 'no_email'
  | 'invalid_email'
  | 'key_set_unavailable'
  | 'unknown_user'
  | 'user_disabled';

export type Verified = { ok: true; email: string; name: string | null } | { ok: false; reason: RefusalReason };

export interface VerifierOptions {
  keySet: KeySet;
  issuer: string;
  audience: string[];
  emailClaim: string;
  /** for tests of the clock rules; defaults to the current time */
  now?: () => Date;
}

export function createAssertionVerifier(o: VerifierOptions): (token: string) => Promise<Verified> {
  return async (token) => {
    if (token.length > MAX_ASSERTION_LENGTH || token.split('.').length !== 3) return { ok: false, reason: 'malformed' };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, o.keySet.getKey, {
        algorithms: ALGORITHMS,
        issuer: o.issuer,
        audience: o.audience,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp'],
        ...(o.now ? { currentDate: o.now() } : {}),
      }));
    } catch (e) {
      return { ok: false, reason: reasonFor(e) };
    }
    const claim = payload[o.emailClaim];
    if (typeof claim !== 'string') return { ok: false, reason: 'no_email' };
    // The one email normal form (src/fields.ts): ASCII letters folded, nothing else;
    // what cannot be normalised safely (KELVIN SIGN, fullwidth letters, NUL, controls,
    // zero-width characters) is refused, never folded into someone else's address.
    const email = normaliseEmail(claim);
    if (email === null) return { ok: false, reason: 'invalid_email' };
    // A name that is not a clean one-line display name is dropped, not stored.
    const named = typeof payload.name === 'string' ? displayNameField.safeParse(payload.name.slice(0, 800)) : null;
    const name = named?.success ? named.data.slice(0, 200) : null;
    return { ok: true, email, name };
  };
}

function reasonFor(e: unknown): RefusalReason {
  // the key set could not be obtained (src/sso/key-set.ts): the proxy's fault, not the token's
  if (e instanceof ServiceError && e.code === 'unavailable') return 'key_set_unavailable';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) return 'unknown_key';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (e instanceof errors.JWTExpired) return 'expired';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'iss') return 'wrong_issuer';
    if (e.claim === 'aud') return 'wrong_audience';
    if (e.claim === 'nbf' && e.reason === 'check_failed') return 'not_yet_valid';
    return 'invalid_claims';
  }
  // JWSInvalid, JWTInvalid, JOSENotSupported, a key of the wrong type, garbage: all the
  // token's fault, and all refused.
  return 'malformed';
}
