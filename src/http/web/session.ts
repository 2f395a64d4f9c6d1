/**
 * Sessions (express-session, rows in the shared database) and the signed-in user, re-read
 * on every request so a disabled account stops at once. A session row is written only
 * for a signed-in browser: signed-out pages keep no server state (their forms use the
 * stateless CSRF token of csrf.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import { KnexSessionStore } from '../../db/session-store';
import type { Wiring } from '../../wiring';
import { notFound } from '../../errors';
import type { UserRecord } from '../../oauth1/ports';
import { sameOriginPath } from './next';
import { ssoUser } from './sso-sign-in';
import { webLocals } from './state';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    /** the user's session generation at sign-in: a password change since ends the session */
    generation?: number;
    /** a one-time notice for the next page ("Access for X revoked.") */
    flash?: string;
  }
}

export { saveSession, startSession } from './session-start';

export const SESSION_COOKIE = 'applink.sid';
export const SESSION_MAX_AGE_MS = 8 * 3600 * 1000;

export function sessionMiddleware(s: Wiring): RequestHandler {
  // Cookie-signing key derived from the master key: nothing else to configure or leak.
  // Signed with the current key; cookies signed under a previous key (before a key
  // rotation) still verify, so a rotation signs nobody out.
  const secret = s.box.deriveAll('session-cookie').map((k) => k.toString('base64'));
  const https = s.config.baseUrl?.protocol === 'https:';
  const mw = session({
    name: SESSION_COOKIE,
    secret,
    store: new KnexSessionStore(s.db.knex),
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: https,
      path: s.config.basePath || '/',
      maxAge: SESSION_MAX_AGE_MS,
    },
  });
  // With an https base URL the browser speaks TLS (to us, or to the proxy or tunnel in
  // front): the cookie is Secure, and express-session must not refuse to set it because
  // the last hop to us is plain http without X-Forwarded-Proto.
  if (!https) return mw;
  return (req, res, next) => {
    Object.defineProperty(req, 'secure', { value: true, configurable: true });
    return mw(req, res, next);
  };
}

/**
 * The request's session, or undefined before the session middleware ran (the error page of
 * a request refused earlier, e.g. an oversized form): Express's type says it is always there.
 */
export function sessionOf(req: Request): Request['session'] | undefined {
  return (req as Partial<Pick<Request, 'session'>>).session;
}

/**
 * The user of the session, fresh from the database. A disabled or deleted user is signed
 * out, and so is a session from before the user's password last changed (its generation
 * is behind the user's; sessions made before generations existed count as 0, as every
 * user did then).
 */
async function sessionUser(req: Request, s: Wiring): Promise<UserRecord | null> {
  const session = sessionOf(req);
  const id = session?.userId;
  if (session === undefined || id === undefined) return null;
  const found = await s.users.findForSession(id);
  if (found && !found.user.disabled && (session.generation ?? 0) === found.generation) return found.user;
  delete session.userId;
  delete session.generation;
  return null;
}

/** The signed-in user (session, or single sign-on), resolved once per request; disabled users are nobody. */
export async function currentUser(req: Request, s: Wiring): Promise<UserRecord | null> {
  const locals = webLocals(req);
  if (locals.viewer !== undefined) return locals.viewer;
  const found = await ssoUser(req, s, await sessionUser(req, s));
  locals.viewer = found && !found.disabled ? found : null;
  return locals.viewer;
}

/**
 * For a route behind requireUser or requireAdmin: the signed-in user from `currentUser`
 * (a router's injected one); `not_found` if the session ended in between.
 */
export function signedInUser(
  currentUser: (req: Request) => Promise<UserRecord | null>,
): (req: Request) => Promise<UserRecord> {
  return async (req) => {
    const user = await currentUser(req);
    if (!user) throw notFound('signed out');
    return user;
  };
}

/**
 * The sign-in page, coming back to `next` (only if it is one of our own paths: next.ts);
 * says so when this request's proxy assertion was refused.
 */
export function loginUrl(s: Wiring, next?: string, req?: Request): string {
  const q = new URLSearchParams();
  const back = next === undefined ? null : sameOriginPath(next, s.config.basePath);
  if (back) q.set('next', back);
  if (req && webLocals(req).ssoRefused) q.set('sso', 'refused');
  const qs = q.toString();
  return `${s.config.basePath}/login${qs ? `?${qs}` : ''}`;
}

/** Pages for signed-in people: others go to the sign-in page and come back. */
export function requireUser(s: Wiring): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (await currentUser(req, s)) {
      next();
      return;
    }
    res.redirect(302, loginUrl(s, req.method === 'GET' ? req.originalUrl : undefined, req));
  };
}
