/**
 * Browser plumbing: page security headers, sessions in the database, form parsing, CSRF
 * tokens, the signed-in user (re-read on every request so a disabled account stops at
 * once), and the sign-in / sign-out routes.
 *
 * Who is signed in comes from a list of sign-in sources (`signInSources`): today the
 * session set by the login form or /setup; another source (single sign-on) plugs in there
 * and every page, including consent and the admin console, picks it up via currentUser.
 */
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { csrfSync } from 'csrf-sync';
import { rateLimit } from 'express-rate-limit';
import { KnexSessionStore } from '../db/session-store';
import { PAGE } from './errors';
import type { Services } from '../services';
import type { UserRecord } from '../oauth1/ports';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    /** a one-time notice for the next page ("Access for X revoked.") */
    flash?: string;
  }
}

export const SESSION_COOKIE = 'applink.sid';

/** A way a browser can be signed in. */
export interface SignInSource {
  name: string;
  /** The user this request is signed in as according to this source, or null. */
  user(req: Request, s: Services): Promise<UserRecord | null>;
}

/** The session cookie, set by the login form and /setup. */
export const sessionSignIn: SignInSource = {
  name: 'session',
  async user(req, s) {
    const id = req.session?.userId;
    if (id === undefined) return null;
    const user = await s.users.findById(id);
    if (user && !user.disabled) return user;
    delete req.session.userId; // disabled or deleted: signed out
    return null;
  },
};

/** Every sign-in source, in order of precedence; the first that knows the user wins. */
export function signInSources(_s: Services): SignInSource[] {
  return [sessionSignIn];
}

const SIGNED_IN = Symbol('signed-in user');
type WithUser = Request & { [SIGNED_IN]?: UserRecord | null };

/** The signed-in user, fresh from the database once per request; disabled users are nobody. */
export async function currentUser(req: Request, s: Services): Promise<UserRecord | null> {
  const r = req as WithUser;
  if (r[SIGNED_IN] !== undefined) return r[SIGNED_IN];
  let found: UserRecord | null = null;
  for (const source of signInSources(s)) {
    const u = await source.user(req, s);
    if (u && !u.disabled) {
      found = u;
      break;
    }
  }
  r[SIGNED_IN] = found;
  return found;
}

/** `next` may only be one of our own paths: no scheme, no host, no `//` or `/\`. */
export function safeNext(next: unknown, basePath: string): string {
  const fallback = `${basePath}/profile/authorized-apps`;
  if (typeof next !== 'string' || next.length > 2048) return fallback;
  if (!next.startsWith(`${basePath}/`) || /^\/[/\\]/.test(next.slice(basePath.length)) || /[\r\n\\]/.test(next))
    return fallback;
  return next;
}

// The Content-Security-Policy of every page: our own stylesheet and images, no script at
// all (so nothing inline either), forms only to ourselves, never inside a frame.
const CSP: Record<string, string[]> = {
  defaultSrc: ["'none'"],
  baseUri: ["'none'"],
  scriptSrc: ["'none'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  objectSrc: ["'none'"],
};

export interface WebKit {
  /** Mount before any page route: page marker, security headers, no-store, session. */
  page: RequestHandler[];
  session: RequestHandler;
  form: RequestHandler;
  csrf: RequestHandler;
  csrfToken(req: Request): string;
  /**
   * The consent form's answer is a redirect to the consumer's callback; CSP form-action
   * covers that redirect, so the consent page allows exactly that one origin as well.
   */
  allowFormActionTo(req: Request, res: Response, origin: string): void;
  /** res.render with who is signed in (for the navigation) and a CSRF token for its forms. */
  render(req: Request, res: Response, view: string, locals: Record<string, unknown>, status?: number): void;
}

export function createWebKit(s: Services): WebKit {
  // Cookie-signing key derived from the master key: nothing else to configure or leak.
  const secret = s.box.derive('session-cookie').toString('base64');
  const https = s.config.baseUrl?.protocol === 'https:';
  const sessionMw = session({
    name: SESSION_COOKIE,
    secret,
    store: new KnexSessionStore(s.db.knex),
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: https, path: s.config.basePath || '/', maxAge: 8 * 3600 * 1000 },
  });
  // With an https base URL the browser speaks TLS (to us, or to the proxy or tunnel in
  // front): the cookie is Secure, and express-session must not refuse to set it because
  // the last hop to us is plain http without X-Forwarded-Proto.
  const sessionFor: RequestHandler = https
    ? (req, res, next) => {
        Object.defineProperty(req, 'secure', { value: true, configurable: true });
        return sessionMw(req, res, next);
      }
    : sessionMw;

  const { csrfSynchronisedProtection, generateToken } = csrfSync({
    getTokenFromRequest: (req) => (req.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
  });

  const headers = (directives: Record<string, string[]>) =>
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: https ? { ...directives, upgradeInsecureRequests: [] } : directives,
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: https ? { maxAge: 15_552_000 } : false,
      crossOriginResourcePolicy: { policy: 'same-origin' },
      // Consumers (Atlassian's among them) open sign-in and consent in a popup and hear
      // back from their callback page through window.opener; COOP would cut that link.
      crossOriginOpenerPolicy: false,
    });
  const pageHeaders = headers(CSP);

  const markPage: RequestHandler = (_req, res, next) => {
    (res.locals as Record<symbol, boolean>)[PAGE] = true;
    // Pages carry CSRF tokens, verifiers and once-shown secrets: never cached.
    res.set('Cache-Control', 'no-store');
    next();
  };

  const csrfToken = (req: Request) => generateToken(req);

  return {
    page: [markPage, pageHeaders, sessionFor],
    session: sessionFor,
    form: express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 }),
    csrf: csrfSynchronisedProtection,
    csrfToken,
    allowFormActionTo(req, res, origin) {
      headers({ ...CSP, formAction: ["'self'", origin] })(req, res, () => undefined);
    },
    render(req, res, view, locals, status = 200) {
      const viewer = (req as WithUser)[SIGNED_IN] ?? null;
      const flash = req.session?.flash ?? null;
      if (flash !== null) delete req.session.flash;
      res.status(status).render(view, {
        viewer,
        flash,
        ...locals,
        csrfToken: (locals.csrfToken as string | undefined) ?? (viewer ? csrfToken(req) : ''),
      });
    },
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

export const loginUrl = (s: Services, next?: string): string =>
  `${s.config.basePath}/login${next ? `?next=${encodeURIComponent(next)}` : ''}`;

/** Pages for signed-in people: others go to the sign-in page and come back. */
export function requireUser(s: Services): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (await currentUser(req, s)) return next();
    res.redirect(302, loginUrl(s, req.method === 'GET' ? req.originalUrl : undefined));
  };
}

/** Pages for administrators: others signed in get 403. */
export function requireAdmin(s: Services, web: WebKit): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const user = await currentUser(req, s);
    // Strangers are sent to sign in when they look, refused when they try to change something.
    if (!user && req.method === 'GET') return res.redirect(302, loginUrl(s, req.originalUrl));
    if (user?.isAdmin) return next();
    web.render(
      req,
      res,
      'error',
      {
        title: 'Administrators only',
        message: 'This page is for administrators of this applink. Ask one if you need something changed.',
      },
      403,
    );
  };
}

/** Signs `user` in on a fresh session id (an id planted before sign-in is worthless). */
export function startSession(req: Request, user: UserRecord): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.regenerate((err) => {
      if (err) return reject(err as Error);
      req.session.userId = user.id;
      (req as WithUser)[SIGNED_IN] = user;
      req.session.save((err2) => (err2 ? reject(err2 as Error) : resolve()));
    });
  });
}

export const LOGIN_LIMIT = 20;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;

export function webRouter(s: Services, web: WebKit): Router {
  const router = Router();
  router.use(web.page);

  const showLogin = async (req: Request, res: Response, error?: string, status = 200) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    web.render(
      req,
      res,
      'login',
      {
        title: 'Sign in',
        error: error ?? null,
        next: safeNext(req.method === 'GET' ? req.query.next : body.next, s.config.basePath),
        username: typeof body.username === 'string' ? body.username : '',
        setupOpen: await s.firstRun.isOpen(),
        csrfToken: web.csrfToken(req),
      },
      status,
    );
  };

  // Per address; successful sign-ins do not count.
  const loginLimiter = rateLimit({
    windowMs: LOGIN_WINDOW_MS,
    limit: LOGIN_LIMIT,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    skipSuccessfulRequests: true,
    handler: (req, res, next) => {
      showLogin(req, res, 'Too many sign-in attempts from your address. Wait a few minutes and try again.', 429).catch(
        next,
      );
    },
  });

  router.get('/login', async (req, res) => {
    const user = await currentUser(req, s);
    if (user) return res.redirect(302, safeNext(req.query.next, s.config.basePath));
    await showLogin(req, res);
  });

  router.post('/login', loginLimiter, web.form, requireCsrf(web), async (req, res) => {
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
    await startSession(req, user);
    await s.store.audit({ event: 'login.succeeded', actorUserId: user.id, ip: req.ip ?? null });
    res.redirect(302, target);
  });

  router.post('/logout', web.form, requireCsrf(web), (req, res, next) => {
    const next_ = safeNext((req.body as Record<string, unknown>).next, s.config.basePath);
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie(SESSION_COOKIE, { path: s.config.basePath || '/' });
      // "Not you?" on the consent page: sign in as someone else and come back to it.
      res.redirect(
        302,
        next_.startsWith(`${s.config.basePath}/oauth/authorize`) || next_.startsWith(`${s.config.basePath}/plugins/`)
          ? loginUrl(s, next_)
          : loginUrl(s),
      );
    });
  });

  return router;
}
