/**
 * Browser plumbing: sessions in the database, form parsing, CSRF tokens, the signed-in
 * user (re-read on every request so a disabled account stops at once; with single
 * sign-on, also taken from the proxy's assertion), sign-in, sign-out.
 */
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import { csrfSync } from 'csrf-sync';
import { rateLimit } from 'express-rate-limit';
import { KnexSessionStore } from '../db/session-store';
import { PAGE } from './errors';
import type { Services } from '../services';
import type { UserRecord } from '../oauth1/ports';
import type { RefusalReason, SingleSignOn } from '../sso';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
  }
}

export interface WebKit {
  session: RequestHandler;
  form: RequestHandler;
  csrf: RequestHandler;
  csrfToken(req: Request): string;
}

export const SESSION_COOKIE = 'applink.sid';

export function createWebKit(s: Services): WebKit {
  // Cookie-signing key derived from the master key: nothing else to configure or leak.
  const secret = s.box.derive('session-cookie').toString('base64');
  const secure = s.config.baseUrl?.protocol === 'https:';
  const sessionMw = session({
    name: SESSION_COOKIE,
    secret,
    store: new KnexSessionStore(s.db.knex),
    resave: false,
    saveUninitialized: false,
    rolling: false,
    proxy: s.config.trustProxy || s.config.baseUrl !== null,
    cookie: { httpOnly: true, sameSite: 'lax', secure, path: s.config.basePath || '/', maxAge: 8 * 3600 * 1000 },
  });
  const { csrfSynchronisedProtection, generateToken } = csrfSync({
    getTokenFromRequest: (req) => (req.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
  });
  return {
    session: sessionMw,
    form: express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }),
    csrf: csrfSynchronisedProtection,
    csrfToken: (req) => generateToken(req),
  };
}

/** CSRF check that answers with our 403 page (the error handler knows EBADCSRFTOKEN). */
export function requireCsrf(web: WebKit): RequestHandler {
  return (req, res, next) =>
    web.csrf(req, res, (err?: unknown) => {
      if (err) return next(Object.assign(new Error('invalid csrf token'), { code: 'EBADCSRFTOKEN', status: 403 }));
      next();
    });
}

/** The user of the session, fresh from the database; a disabled user is signed out. */
async function sessionUser(req: Request, s: Services): Promise<UserRecord | null> {
  const id = req.session?.userId;
  if (id === undefined) return null;
  const user = await s.users.findById(id);
  if (user && !user.disabled) return user;
  delete req.session.userId;
  return null;
}

/** Requests whose proxy assertion was refused, for the sign-in page to say so. */
const ssoRefusals = new WeakMap<Request, RefusalReason>();

/** The proxy's assertion: its header, else its cookie. */
function assertionOf(req: Request, sso: SingleSignOn): string | null {
  const header = req.headers[sso.header];
  if (typeof header === 'string' && header.trim()) return header.trim();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === sso.cookie) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

const regenerate = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));

/**
 * The signed-in user: the session's, or, with single sign-on, the one a valid proxy
 * assertion names (a session is then established under a new id). A valid assertion
 * for someone else replaces the session's user on a page view (a shared browser whose
 * proxy sign-in changed) and signs no one in on a form post (never switch identity
 * between a page and its form). A refused assertion signs no one in and no one out.
 */
export async function currentUser(req: Request, s: Services): Promise<UserRecord | null> {
  const fromSession = await sessionUser(req, s);
  const assertion = s.sso ? assertionOf(req, s.sso) : null;
  if (!s.sso || !assertion) return fromSession;
  const outcome = await s.sso.signIn(assertion);
  if (!outcome.ok) {
    if (fromSession) return fromSession;
    ssoRefusals.set(req, outcome.reason);
    // The reason only: the assertion is a bearer credential.
    s.logger.warn(
      { reqId: (req.res?.locals as { reqId?: string } | undefined)?.reqId, reason: outcome.reason },
      'sso assertion refused',
    );
    await s.store.audit({
      event: 'sso.refused',
      actorUserId: outcome.userId ?? null,
      ip: req.ip ?? null,
      detail: { reason: outcome.reason },
    });
    return null;
  }
  if (fromSession?.id === outcome.user.id) return fromSession;
  if (req.method !== 'GET' && req.method !== 'HEAD') return null;
  await regenerate(req);
  req.session.userId = outcome.user.id;
  await s.store.audit({
    event: 'sso.login',
    actorUserId: outcome.user.id,
    ip: req.ip ?? null,
    detail: outcome.provisioned ? { provisioned: true } : fromSession ? { replaced: fromSession.username } : {},
  });
  return outcome.user;
}

/** Where a page sends a visitor who is not signed in. */
export function loginRedirect(req: Request, s: Services): string {
  const refused = ssoRefusals.has(req) ? '&sso=refused' : '';
  return `${s.config.basePath}/login?next=${encodeURIComponent(req.originalUrl)}${refused}`;
}

/** `next` may only be one of our own paths: no scheme, no host, no `//` or `/\`. */
export function safeNext(next: unknown, basePath: string): string {
  const fallback = `${basePath}/profile/authorized-apps`;
  if (typeof next !== 'string' || next.length > 2048) return fallback;
  if (!next.startsWith(`${basePath}/`) || /^\/[/\\]/.test(next.slice(basePath.length)) || /[\r\n\\]/.test(next))
    return fallback;
  return next;
}

export function webRouter(s: Services, web: WebKit): Router {
  const router = Router();
  router.use((_req, res, next) => {
    (res.locals as Record<symbol, boolean>)[PAGE] = true;
    next();
  });
  router.use(web.session);

  const loginLimiter = rateLimit({
    windowMs: 15 * 60 * 1000,
    limit: 20,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    skipSuccessfulRequests: true,
    handler: (_req, res) => {
      res.status(429).render('login', {
        title: 'Sign in',
        error: 'Too many sign-in attempts. Wait a few minutes and try again.',
        next: '',
        username: '',
        csrfToken: '',
        loginForm: s.config.loginForm,
        sso: s.sso !== null,
        ssoRefused: false,
      });
    },
  });

  const showLogin = (req: Request, res: Response, error?: string, status = 200) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    res.status(status).render('login', {
      title: 'Sign in',
      error: error ?? null,
      next: safeNext(req.method === 'GET' ? req.query.next : body.next, s.config.basePath),
      username: typeof body.username === 'string' ? body.username : '',
      // no form, no token: an SSO-only sign-in page creates no session
      csrfToken: s.config.loginForm ? web.csrfToken(req) : '',
      loginForm: s.config.loginForm,
      sso: s.sso !== null,
      ssoRefused: req.query.sso === 'refused' || ssoRefusals.has(req),
    });
  };

  router.get('/login', async (req, res) => {
    // Behind the proxy, the sign-in page signs in: a valid assertion goes straight on.
    // `sso=refused` means a page just tried and failed; say so instead of trying again.
    if (s.sso && req.query.sso !== 'refused' && (await currentUser(req, s)))
      return res.redirect(302, safeNext(req.query.next, s.config.basePath));
    showLogin(req, res);
  });

  const formEnabled: RequestHandler = (req, res, next) => {
    if (s.config.loginForm) return next();
    showLogin(req, res, 'Sign-in with a password is turned off here.', 403);
  };

  router.post('/login', formEnabled, loginLimiter, web.form, requireCsrf(web), async (req, res, next) => {
    const body = req.body as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const user = username && password ? await s.users.authenticate(username, password) : null;
    if (!user || user.disabled) {
      await s.store.audit({
        event: 'login.failed',
        ip: req.ip ?? null,
        detail: { reason: user ? 'disabled' : 'bad credentials' },
      });
      return showLogin(req, res, 'Wrong username or password, or the account is disabled.', 401);
    }
    const target = safeNext(body.next, s.config.basePath);
    // A new session id at sign-in: a session id planted before sign-in is worthless.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = user.id;
      req.session.save((err2) => {
        if (err2) return next(err2);
        void s.store
          .audit({ event: 'login.succeeded', actorUserId: user.id, ip: req.ip ?? null })
          .then(() => res.redirect(302, target), next);
      });
    });
  });

  router.post('/logout', web.form, requireCsrf(web), (req, res, next) => {
    const next_ = safeNext((req.body as Record<string, unknown>).next, s.config.basePath);
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie(SESSION_COOKIE, { path: s.config.basePath || '/' });
      res.redirect(
        302,
        next_.startsWith(`${s.config.basePath}/oauth/authorize`) || next_.startsWith(`${s.config.basePath}/plugins/`)
          ? `${s.config.basePath}/login?next=${encodeURIComponent(next_)}`
          : `${s.config.basePath}/login`,
      );
    });
  });

  router.get('/profile/authorized-apps', async (req, res) => {
    const user = await currentUser(req, s);
    if (!user) return res.redirect(302, loginRedirect(req, s));
    const grants = await s.tokens.list({ userId: user.id });
    res.render('authorized-apps', { title: 'Authorized applications', user, grants, csrfToken: web.csrfToken(req) });
  });

  router.post('/profile/authorized-apps/:id/revoke', web.form, requireCsrf(web), async (req, res) => {
    const user = await currentUser(req, s);
    if (!user) return res.redirect(302, `${s.config.basePath}/login`);
    const id = Number(req.params.id);
    if (Number.isSafeInteger(id) && (await s.tokens.revoke(id, user.id))) {
      await s.store.audit({
        event: 'access_token.revoked',
        actorUserId: user.id,
        tokenId: id,
        ip: req.ip ?? null,
        detail: { by: 'user' },
      });
    }
    res.redirect(302, `${s.config.basePath}/profile/authorized-apps`);
  });

  return router;
}
