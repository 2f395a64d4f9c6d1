/**
 * Browser plumbing: sessions in the database, form parsing, CSRF tokens, the signed-in
 * user (re-read on every request so a disabled account stops at once), sign-in, sign-out.
 */
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import { csrfSync } from 'csrf-sync';
import { rateLimit } from 'express-rate-limit';
import { KnexSessionStore } from '../db/session-store';
import { PAGE } from './errors';
import type { Services } from '../services';
import type { UserRecord } from '../oauth1/ports';

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
  // Signed with the current key; cookies signed under a previous key (before a key
  // rotation) still verify, so a rotation signs nobody out.
  const secret = s.box.deriveAll('session-cookie').map((k) => k.toString('base64'));
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

/** The signed-in user, fresh from the database; a disabled user is signed out. */
export async function currentUser(req: Request, s: Services): Promise<UserRecord | null> {
  const id = req.session?.userId;
  if (id === undefined) return null;
  const user = await s.users.findById(id);
  if (user && !user.disabled) return user;
  delete req.session.userId;
  return null;
}

/** Failed sign-ins allowed per window, per client address and per account name. */
export const SIGN_IN_LIMITS = Object.freeze({ windowMs: 15 * 60 * 1000, perAddress: 20, perAccount: 10 });

/**
 * Brute-force brakes for password forms (sign-in, and setup): failures are counted per
 * client address (before the body is read) and per account name (after), so neither one
 * address guessing many passwords nor many addresses guessing one account get far.
 * Successful requests do not count. The counts live in each node's memory.
 */
export function signInLimiters(
  s: Services,
  onLimited: RequestHandler,
  field = 'username',
): { perAddress: RequestHandler; perAccount: RequestHandler } {
  const common = {
    windowMs: SIGN_IN_LIMITS.windowMs,
    standardHeaders: 'draft-7' as const,
    legacyHeaders: false,
    skipSuccessfulRequests: true,
  };
  const limited =
    (by: 'address' | 'account'): RequestHandler =>
    (req, res, next) => {
      void s.store
        .audit({ event: 'login.throttled', ip: req.ip ?? null, detail: { by } })
        .then(() => onLimited(req, res, next), next);
    };
  return {
    perAddress: rateLimit({ ...common, limit: SIGN_IN_LIMITS.perAddress, handler: limited('address') }),
    perAccount: rateLimit({
      ...common,
      limit: SIGN_IN_LIMITS.perAccount,
      // Needs the parsed form: mount after the body parser.
      keyGenerator: (req) => {
        const v = (req.body as Record<string, unknown> | undefined)?.[field];
        return `account:${typeof v === 'string' ? v.slice(0, 320) : ''}`;
      },
      skip: (req) => typeof (req.body as Record<string, unknown> | undefined)?.[field] !== 'string',
      handler: limited('account'),
    }),
  };
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

  const limits = signInLimiters(s, (_req, res) => {
    res.status(429).render('login', {
      title: 'Sign in',
      error: 'Too many sign-in attempts. Wait a few minutes and try again.',
      next: '',
      username: '',
      csrfToken: '',
    });
  });

  const showLogin = (req: Request, res: Response, error?: string, status = 200) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    res.status(status).render('login', {
      title: 'Sign in',
      error: error ?? null,
      next: safeNext(req.method === 'GET' ? req.query.next : body.next, s.config.basePath),
      username: typeof body.username === 'string' ? body.username : '',
      csrfToken: web.csrfToken(req),
    });
  };

  router.get('/login', (req, res) => showLogin(req, res));

  router.post('/login', limits.perAddress, web.form, limits.perAccount, requireCsrf(web), async (req, res, next) => {
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
    if (!user) return res.redirect(302, `${s.config.basePath}/login?next=${encodeURIComponent(req.originalUrl)}`);
    const grants = await s.tokens.list({ userId: user.id });
    res.render('authorized-apps', { title: 'Authorized applications', user, grants, csrfToken: web.csrfToken(req) });
  });

  router.post('/profile/authorized-apps/:id/revoke', web.form, requireCsrf(web), async (req, res) => {
    const user = await currentUser(req, s);
    if (!user) return res.redirect(302, `${s.config.basePath}/login`);
    const id = Number(req.params.id);
    if (Number.isSafeInteger(id)) {
      await s.tokens.revoke(id, user.id, {
        event: 'access_token.revoked',
        actorUserId: user.id,
        ip: req.ip ?? null,
        detail: { by: 'user' },
      });
    }
    res.redirect(302, `${s.config.basePath}/profile/authorized-apps`);
  });

  return router;
}
