/**
 * Single sign-on through an identity-aware proxy (Cloudflare Access style): the proxy
 * signs every request with a short-lived JWT naming the user; a valid one signs the
 * browser in as the local user with that email. No HTTP framework here: src/http/web.ts
 * takes the assertion off the request and keeps the session.
 */
import type { SsoConfig } from '../config';
import { fileKeySet, remoteKeySet, type KeySet } from './key-set';
import { resolveUser, type SsoUsers } from './sign-in';
import { createAssertionVerifier, type RefusalReason } from './verifier';
import type { UserRecord } from '../oauth1/ports';

export type { RefusalReason } from './verifier';

export type SsoOutcome =
  { ok: true; user: UserRecord; provisioned: boolean } | { ok: false; reason: RefusalReason; userId?: number };

export interface SingleSignOn {
  /** lower-cased request header name */
  header: string;
  cookie: string;
  /** A verified assertion -> the local user, or a refusal reason. Never throws for a bad token. */
  signIn(assertion: string): Promise<SsoOutcome>;
  /** Fetches the key set ahead of the first sign-in; rejects when it cannot. */
  warm(): Promise<void>;
}

export function createSingleSignOn(config: SsoConfig, users: SsoUsers, keySet?: KeySet): SingleSignOn {
  const keys =
    keySet ??
    (config.jwks.kind === 'url'
      ? remoteKeySet(config.jwks.url, config.jwksCooldown)
      : fileKeySet(config.jwks.path, config.jwksCooldown));
  const verify = createAssertionVerifier({
    keySet: keys,
    issuer: config.issuer,
    audience: config.audience,
    emailClaim: config.emailClaim,
  });
  return {
    header: config.header,
    cookie: config.cookie,
    async signIn(assertion) {
      const v = await verify(assertion);
      if (!v.ok) return v;
      return resolveUser(v, users, config.autoProvision);
    },
    warm: () => keys.warm(),
  };
}
