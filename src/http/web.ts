/**
 * Browser plumbing: page security headers, sessions in the database, form parsing, CSRF
 * tokens, the signed-in user (re-read on every request so a disabled account stops at
 * once), and the sign-in / sign-out routes.
 *
 * Who is signed in comes from the session (set by the login form or /setup) or, with
 * single sign-on, from the proxy's assertion (resolveUser); every page, including consent
 * and the admin console, asks currentUser, which resolves once per request.
 */
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { csrfSync } from 'csrf-sync';
import { rateLimit } from 'express-rate-limit';
import { KnexSessionStore } from '../db/session-store';
import { safeNext, sameOriginPath } from './web/next';
import { PAGE } from './errors';
import type { Services } from '../services';
import type { UserRecord } from '../oauth1/ports';
import type { RefusalReason, SingleSignOn } from '../sso';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    /** a one-time notice for the next page ("Access for X revoked.") */
    flash?: string;
  }
}

export const SESSION_COOKIE = 'applink.sid';

/** The user of the session, fresh from the database; a disabled or deleted user is signed out. */
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
async function resolveUser(req: Request, s: Services): Promise<UserRecord | null> {
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

const SIGNED_IN = Symbol('signed-in user');
type WithUser = Request & { [SIGNED_IN]?: UserRecord | null };

/** The signed-in user, resolved once per request; disabled users are nobody. */
export async function currentUser(req: Request, s: Services): Promise<UserRecord | null> {
  const r = req as WithUser;
  if (r[SIGNED_IN] !== undefined) return r[SIGNED_IN];
  const found = await resolveUser(req, s);
  r[SIGNED_IN] = found && !found.disabled ? found : null;
  return r[SIGNED_IN];
}

export { safeNext } from './web/next';

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
  // Signed with the current key; cookies signed under a previous key (before a key
  // rotation) still verify, so a rotation signs nobody out.
  const secret = s.box.deriveAll('session-cookie').map((k) => k.toString('base64'));
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

/** The sign-in page, coming back to `next`; says so when this request's proxy assertion was refused. */
export function loginUrl(s: Services, next?: string, req?: Request): string {
  const q = new URLSearchParams();
  const back = next === undefined ? null : sameOriginPath(next, s.config.basePath);
  if (back) q.set('next', back);
  if (req && ssoRefusals.has(req)) q.set('sso', 'refused');
  const qs = q.toString();
  return `${s.config.basePath}/login${qs ? `?${qs}` : ''}`;
}

/** Pages for signed-in people: others go to the sign-in page and come back. */
export function requireUser(s: Services): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (await currentUser(req, s)) return next();
    res.redirect(302, loginUrl(s, req.method === 'GET' ? req.originalUrl : undefined, req));
  };
}

/** Pages for administrators: others signed in get 403. */
export function requireAdmin(s: Services, web: WebKit): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const user = await currentUser(req, s);
    // Strangers are sent to sign in when they look, refused when they try to change something.
    if (!user && req.method === 'GET') return res.redirect(302, loginUrl(s, req.originalUrl, req));
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

/** Failed sign-ins allowed per window, per client address and per account name. */
export const SIGN_IN_LIMITS = Object.freeze({ windowMs: LOGIN_WINDOW_MS, perAddress: LOGIN_LIMIT, perAccount: 10 });

/**
 * Brute-force brakes for the password form: failures are counted per client address
 * (before the body is read) and per account name (after), so neither one address guessing
 * many passwords nor many addresses guessing one account get far. Successful requests do
 * not count. The counts live in each node's memory.
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
        // no form, no token: an SSO-only sign-in page creates no session
        csrfToken: s.config.loginForm ? web.csrfToken(req) : '',
        loginForm: s.config.loginForm,
        sso: s.sso !== null,
        ssoRefused: req.query.sso === 'refused' || ssoRefusals.has(req),
      },
      status,
    );
  };

  // Per address and per account; successful sign-ins do not count.
  const limits = signInLimiters(s, (req, res, next) => {
    showLogin(req, res, 'Too many sign-in attempts. Wait a few minutes and try again.', 429).catch(next);
  });

  router.get('/login', async (req, res) => {
    // Signed in already (behind the proxy: a valid assertion signs in here) -> go on.
    // `sso=refused` means a page just tried and failed; say so instead of trying again.
    if (req.query.sso !== 'refused' && (await currentUser(req, s)))
      return res.redirect(302, safeNext(req.query.next, s.config.basePath));
    await showLogin(req, res);
  });

  const formEnabled: RequestHandler = (req, res, next) => {
    if (s.config.loginForm) return next();
    showLogin(req, res, 'Sign-in with a password is turned off here.', 403).catch(next);
  };

  router.post(
    '/login',
    formEnabled,
    limits.perAddress,
    web.form,
    limits.perAccount,
    requireCsrf(web),
    async (req, res) => {
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
    },
  );

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
