/**
 * Where the proxy's signing keys come from. A remote key set (jose) is fetched with a
 * timeout, cached, and fetched again when a token names an unknown `kid`, at most once
 * per cooldown; a local JWKS file is read at start and re-read under the same rule.
 * Any failure to obtain keys surfaces as an `unavailable` ServiceError (keySetUnavailable):
 * the caller fails closed.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { configInvalid, unavailable } from '../errors';

/** Fetch timeout for the remote key set. */
export const JWKS_TIMEOUT_MS = 5_000;
/** Keys are re-fetched at most this often when nothing asks for a refresh sooner. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

const keySetUnavailable = (cause: unknown) => unavailable('the signing key set could not be obtained', cause);

export interface KeySet {
  getKey: JWTVerifyGetKey;
  /** Loads the keys ahead of the first sign-in; rejects with an `unavailable` ServiceError. */
  warm(): Promise<void>;
}

/** A key the set does not hold is the token's fault; anything else is the key set's. */
const isKeyMismatch = (e: unknown) =>
  e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys;

export function remoteKeySet(url: URL, cooldownSeconds: number): KeySet {
  const jwks = createRemoteJWKSet(url, {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: cooldownSeconds * 1000,
    cacheMaxAge: JWKS_MAX_AGE_MS,
  });
  return {
    async getKey(header, token) {
      try {
        return await jwks(header, token);
      } catch (e) {
        if (isKeyMismatch(e)) throw e;
        throw keySetUnavailable(e);
      }
    },
    async warm() {
      try {
        await jwks.reload();
      } catch (e) {
        throw keySetUnavailable(e);
      }
    },
  };
}

export function fileKeySet(path: string, cooldownSeconds: number, now: () => number = Date.now): KeySet {
  const load = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw configInvalid('APPLINK_SSO_JWKS_FILE', `cannot read a JSON key set from ${path}: ${(e as Error).message}`);
    }
    try {
      return createLocalJWKSet(parsed as JSONWebKeySet);
    } catch {
      throw configInvalid('APPLINK_SSO_JWKS_FILE', `${path} is not a JSON Web Key Set ({"keys": [...]})`);
    }
  };
  // Read at start: a missing or broken file stops the server with a clear message.
  let local = load();
  let loadedAt = now();
  return {
    async getKey(header, token) {
      try {
        return await local(header, token);
      } catch (e) {
        if (!isKeyMismatch(e) || now() < loadedAt + cooldownSeconds * 1000) throw e;
        try {
          local = load();
          loadedAt = now();
        } catch (reloadError) {
          loadedAt = now();
          throw keySetUnavailable(reloadError);
        }
        return local(header, token);
      }
    },
    async warm() {},
  };
}
