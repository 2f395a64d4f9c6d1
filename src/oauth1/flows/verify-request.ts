/**
 * The one place a signed request is checked: parameters -> base string -> consumer and
 * token lookup (one query) -> signature -> token state -> body hash -> nonce claim.
 * Used by the request-token, access-token and API endpoints alike.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { collectParams, type CollectedParams, type RequestParts } from '../params';
import { baseStringUri, signatureBaseString } from '../base-string';
import { OAuthProblem } from '../problems';
import {
  bodyHash,
  constantTimeEqual,
  isSignatureMethod,
  usesSharedSecret,
  verifySignature,
  type SignatureMethod,
} from '../signature';
import { hashToken } from '../tokens';
import {
  MAX_VERIFIER_FAILURES,
  type AccessTokenRecord,
  type ConsumerRecord,
  type FlowDeps,
  type RequestTokenRecord,
  type TokenKind,
  type TokenTouch,
} from '../ports';

export interface Verified<K extends TokenKind | null> {
  params: CollectedParams;
  method: SignatureMethod;
  consumer: ConsumerRecord;
  token: K extends 'request' ? RequestTokenRecord : K extends 'access' ? AccessTokenRecord : null;
}

const REQUIRED = ['oauth_consumer_key', 'oauth_signature_method', 'oauth_signature'] as const;
// Nonces and timestamps may be omitted with PLAINTEXT (RFC 5849 §3.1); HTTPS carries it.
const REQUIRED_UNLESS_PLAINTEXT = ['oauth_timestamp', 'oauth_nonce'] as const;
// Shapes checked before anything is looked up: cheap, and they keep bytes no key, token or
// nonce can contain (NUL, controls, non-ASCII) away from the database.
const CONSUMER_KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const NONCE_SHAPE = /^[\x21-\x7e]{1,255}$/;
const TOKEN_SHAPE = /^[\x21-\x7e]{1,255}$/;
const TIMESTAMP_SHAPE = /^\d{1,12}$/;
const HTTPS = /^https:/i;

// Stand-in for an unknown consumer so that every check still runs and timing reveals
// nothing about which consumer keys exist (the approach of oauthlib's dummy client).
// Made on first need, not at import: generating its RSA key takes tens of milliseconds,
// which a CLI command that never verifies a request must not pay.
let standIn: ConsumerRecord | undefined;
function standInConsumer(): ConsumerRecord {
  return (standIn ??= Object.freeze({
    id: 0,
    key: '',
    name: '',
    description: '',
    callbackUrl: null,
    secret: randomBytes(32).toString('base64url'),
    publicKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    disabled: false,
  }));
}
const DUMMY_TOKEN_SECRET = randomBytes(32).toString('base64url');

export interface VerifyOptions {
  /** the request's parameters, when the caller has collected them already */
  params?: CollectedParams | undefined;
  /**
   * OAuth Session renewal: an expired access token is accepted (the store checks the
   * authorization's own expiry) and its last_used is left to the renewal's write.
   */
  renewal?: boolean;
}

export async function verifySignedRequest<K extends TokenKind | null>(
  parts: RequestParts,
  kind: K,
  ip: string,
  deps: FlowDeps,
  opts?: VerifyOptions,
): Promise<Verified<K>> {
  const { store, clock, options } = deps;
  const params = opts?.params ?? collectParams(parts);
  const o = params.oauth;

  // Version (§3.1: optional, "1.0" when present).
  if (o.oauth_version !== undefined && o.oauth_version !== '1.0') {
    throw new OAuthProblem('version_rejected', { acceptableVersions: '1.0' });
  }

  // Presence (the list of what is missing is only built when something is).
  const method = o.oauth_signature_method;
  if (
    o.oauth_consumer_key === undefined ||
    method === undefined ||
    o.oauth_signature === undefined ||
    (method !== 'PLAINTEXT' && (o.oauth_timestamp === undefined || o.oauth_nonce === undefined)) ||
    (kind !== null && o.oauth_token === undefined)
  ) {
    const absent: string[] = REQUIRED.filter((n) => o[n] === undefined);
    if (method !== 'PLAINTEXT') absent.push(...REQUIRED_UNLESS_PLAINTEXT.filter((n) => o[n] === undefined));
    if (kind !== null && o.oauth_token === undefined) absent.push('oauth_token');
    throw new OAuthProblem('parameter_absent', { parametersAbsent: absent });
  }

  // Signature method, and PLAINTEXT only where the transport protects the secret.
  if (!isSignatureMethod(method)) {
    throw new OAuthProblem('signature_method_rejected', {
      advice: 'Supported signature methods: HMAC-SHA1, HMAC-SHA256, RSA-SHA1, RSA-SHA256, PLAINTEXT (HTTPS only).',
    });
  }
  const https = HTTPS.test(parts.origin);
  if (method === 'PLAINTEXT' && !https) {
    throw new OAuthProblem('signature_method_rejected', { advice: 'PLAINTEXT is accepted over HTTPS only.' });
  }

  // Timestamp window.
  const nowMs = clock.now();
  const nowS = Math.floor(nowMs / 1000);
  let timestamp = 0;
  if (o.oauth_timestamp !== undefined) {
    if (!TIMESTAMP_SHAPE.test(o.oauth_timestamp)) {
      throw new OAuthProblem('parameter_rejected', {
        advice: 'oauth_timestamp must be a whole number of seconds since the epoch.',
        parametersRejected: ['oauth_timestamp'],
      });
    }
    timestamp = Number(o.oauth_timestamp);
    if (Math.abs(timestamp - nowS) > options.timestampWindow) {
      throw new OAuthProblem('timestamp_refused', {
        acceptableTimestamps: [nowS - options.timestampWindow, nowS + options.timestampWindow],
      });
    }
  }
  if (o.oauth_nonce !== undefined && !NONCE_SHAPE.test(o.oauth_nonce)) {
    throw new OAuthProblem('parameter_rejected', {
      advice: 'oauth_nonce must be 1 to 255 printable ASCII characters.',
      parametersRejected: ['oauth_nonce'],
    });
  }
  if (!CONSUMER_KEY_SHAPE.test(o.oauth_consumer_key)) {
    throw new OAuthProblem('parameter_rejected', {
      advice: 'oauth_consumer_key must be 1 to 255 printable ASCII characters.',
      parametersRejected: ['oauth_consumer_key'],
    });
  }
  // (present whenever kind is not null: checked above)
  const tokenValue = kind === null ? null : (o.oauth_token ?? '');
  if (tokenValue !== null && !TOKEN_SHAPE.test(tokenValue)) throw new OAuthProblem('token_rejected');

  // One lookup: consumer and token together.
  const found = await store.findCredentials(o.oauth_consumer_key, tokenValue && hashToken(tokenValue), kind);
  const consumer = found.consumer ?? standInConsumer();
  const token = found.token;

  // Signature, computed in full whatever was found.
  const baseString = signatureBaseString(parts.method, baseStringUri(parts.origin, parts.target), params.signed);
  const valid = verifySignature(method, baseString, o.oauth_signature, {
    consumerSecret: consumer.secret,
    tokenSecret: token ? token.secret : kind === null ? '' : DUMMY_TOKEN_SECRET,
    publicKey: consumer.publicKey,
  });
  if (!found.consumer) throw new OAuthProblem('consumer_key_unknown');
  if (consumer.disabled) throw new OAuthProblem('consumer_key_rejected');
  if (usesSharedSecret(method) ? consumer.secret === null : consumer.publicKey === null) {
    throw new OAuthProblem('signature_method_rejected', {
      advice: `This consumer has no ${usesSharedSecret(method) ? 'shared secret' : 'public key'} for ${method}.`,
    });
  }
  if (kind !== null && !token) throw new OAuthProblem('token_rejected');
  if (!valid) throw new OAuthProblem('signature_invalid', { signatureBaseString: baseString });

  // Token state, now that the caller has proved it holds the token's secret.
  let touch: TokenTouch | null = null;
  if (token?.kind === 'access') {
    if (token.revokedAt !== null) throw new OAuthProblem('token_revoked');
    const renewal = opts?.renewal === true;
    if (token.expiresAt !== null && token.expiresAt <= nowMs && !renewal) throw new OAuthProblem('token_expired');
    if (token.user.disabled) throw new OAuthProblem('permission_denied', { advice: 'The user has been disabled.' });
    if (!renewal && (token.lastUsedAt === null || nowMs - token.lastUsedAt >= options.lastUsedThrottle)) {
      touch = { accessTokenId: token.id, at: nowMs, ip };
    }
  } else if (token?.kind === 'request') {
    if (token.usedAt !== null)
      throw new OAuthProblem('token_rejected', { advice: 'This request token has been used.' });
    if (token.deniedAt !== null) throw new OAuthProblem('permission_denied', { advice: 'The user denied access.' });
    if (token.verifierFailures >= MAX_VERIFIER_FAILURES) {
      throw new OAuthProblem('token_rejected', { advice: 'Too many wrong verifiers; this request token is dead.' });
    }
    if (token.expiresAt <= nowMs) throw new OAuthProblem('token_expired');
  }

  // oauth_body_hash (the extension forbids it on form-encoded bodies).
  if (o.oauth_body_hash !== undefined) {
    if (params.formEncoded) {
      throw new OAuthProblem('parameter_rejected', {
        advice: 'oauth_body_hash must not be sent with a form-encoded body.',
        parametersRejected: ['oauth_body_hash'],
      });
    }
    if (!constantTimeEqual(bodyHash(method, parts.body), o.oauth_body_hash)) {
      throw new OAuthProblem('signature_invalid', {
        advice: 'oauth_body_hash does not match the body.',
        signatureBaseString: baseString,
      });
    }
  }

  // Last: the nonce, claimed atomically against a unique key.
  if (o.oauth_nonce !== undefined) {
    const tokenRef = token === null ? '' : `${token.kind === 'request' ? 'r' : 'a'}${token.id}`;
    const claimed = await store.claimNonce(
      { consumerId: consumer.id, tokenRef, timestamp, nonce: o.oauth_nonce },
      touch,
    );
    if (!claimed) throw new OAuthProblem('nonce_used');
  }

  return { params, method, consumer, token } as Verified<K>;
}
