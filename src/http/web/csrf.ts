/**
 * CSRF tokens, two kinds.
 *
 * Signed-in forms (consent, revoke, admin, sign-out): a synchroniser token kept in the
 * session (csrf-sync); the session row exists anyway.
 *
 * Signed-out forms (sign-in, first-run setup): no server state at all, so an anonymous
 * page view writes nothing. A signed double-submit cookie: the page sets a cookie holding
 * a random nonce and its issue time, and the form carries an HMAC of that cookie value
 * under a key derived from the master key. A post is accepted when the cookie is there,
 * is younger than SIGNED_OUT_TOKEN_MAX_AGE_MS, and the field is its HMAC (constant-time).
 * A cross-site page can neither read the cookie nor compute the HMAC; the cookie is
 * HttpOnly, SameSite=Strict, and `__Host-` prefixed whenever the site is https at its
 * root (so a sibling subdomain cannot plant one). Tokens made under a previous master key
 * still verify during a key rotation.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { csrfSync } from 'csrf-sync';
import type { Wiring } from '../../wiring';
import { cookieValue } from './cookies';

/** How long a signed-out form stays valid after its page was first served. */
export const SIGNED_OUT_TOKEN_MAX_AGE_MS = 12 * 3600 * 1000;

const VALUE_SHAPE = /^[0-9a-z]{1,12}\.[A-Za-z0-9_-]{22}$/;

export interface Csrf {
  /** A token for a signed-in form (stored in the session). */
  sessionToken: (req: Request) => string;
  /** Checks a signed-in form's token; errors carry code EBADCSRFTOKEN. */
  sessionCheck: RequestHandler;
  /** A token for a signed-out form; sets (or keeps) its cookie. Stores nothing. */
  signedOutToken: (req: Request, res: Response) => string;
  /** Checks a signed-out form's token against its cookie; errors carry code EBADCSRFTOKEN. */
  signedOutCheck: RequestHandler;
}

const badToken = () => Object.assign(new Error('invalid csrf token'), { code: 'EBADCSRFTOKEN', status: 403 });

export function createCsrf(s: Wiring, clock: () => number = Date.now): Csrf {
  const https = s.config.baseUrl?.protocol === 'https:';
  const path = s.config.basePath || '/';
  const cookieName = https && path === '/' ? '__Host-applink.csrf' : 'applink.csrf';
  // new tokens under the current key; tokens made under a previous one still verify
  const current = s.box.derive('signed-out-csrf');
  const keys = s.box.deriveAll('signed-out-csrf');
  const sign = (key: Buffer, value: string) => createHmac('sha256', key).update(value).digest('base64url');

  const { csrfSynchronisedProtection, generateToken } = csrfSync({
    getTokenFromRequest: (req) => (req.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
  });

  /** The cookie's value when it is well formed and young enough, else null. */
  const liveCookie = (req: Request): string | null => {
    const v = cookieValue(req, cookieName);
    if (!v || !VALUE_SHAPE.test(v)) return null;
    const issued = parseInt(v.slice(0, v.indexOf('.')), 36);
    const age = clock() - issued;
    return age >= 0 && age < SIGNED_OUT_TOKEN_MAX_AGE_MS ? v : null;
  };

  return {
    sessionToken: (req) => generateToken(req),
    sessionCheck: (req, res, next) =>
      csrfSynchronisedProtection(req, res, (err?: unknown) => (err ? next(badToken()) : next())),
    signedOutToken(req, res) {
      let value = liveCookie(req);
      if (!value) {
        value = `${clock().toString(36)}.${randomBytes(16).toString('base64url')}`;
        res.cookie(cookieName, value, {
          httpOnly: true,
          sameSite: 'strict',
          secure: https,
          path,
          maxAge: SIGNED_OUT_TOKEN_MAX_AGE_MS,
        });
      }
      return sign(current, value);
    },
    signedOutCheck(req, _res, next) {
      const value = liveCookie(req);
      const field = (req.body as Record<string, unknown> | undefined)?._csrf;
      if (!value || typeof field !== 'string' || field.length > 64) {
        next(badToken());
        return;
      }
      const given = Buffer.from(field);
      const ok = keys.some((k) => {
        const want = Buffer.from(sign(k, value));
        return want.length === given.length && timingSafeEqual(want, given);
      });
      next(ok ? undefined : badToken());
    },
  };
}
