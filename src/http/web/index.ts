/**
 * The browser side of applink, one concern per module:
 *
 *   session.ts      sessions in the database and the signed-in user (currentUser)
 *   session-start.ts signing a user into a fresh session, and saving a session now
 *   sso-sign-in.ts  the proxy's assertion on browser requests (signed in by src/services/sign-in.ts)
 *   csrf.ts         CSRF tokens: in the session when signed in, stateless when signed out
 *   next.ts         where a browser may be sent back to (`next`)
 *   login-router.ts GET/POST /login and POST /logout
 *
 * and here: the WebKit every page router gets (security headers, form parsing, CSRF,
 * rendering with who is signed in) and the guards requireCsrf / requireAdmin.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { PAGE } from '../errors';
import type { Wiring } from '../../wiring';
import type { UserRecord } from '../../oauth1/ports';
import { formBody } from '../body';
import { createCsrf } from './csrf';
import { currentUser, loginUrl, sessionMiddleware, sessionOf } from './session';
import { webLocals } from './state';

export { currentUser, loginUrl, requireUser, saveSession, signedInUser, startSession, SESSION_COOKIE } from './session';
export { safeNext, sameOriginPath } from './next';
export { webRouter } from './login-router';

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
  /** the form body (urlencoded), cut at its limit with a 413 at once (body.ts) */
  form: RequestHandler;
  /** checks a signed-in form's CSRF token (the session's) */
  csrf: RequestHandler;
  /** a signed-in form's CSRF token */
  csrfToken(req: Request): string;
  /** checks a signed-out form's CSRF token (sign-in, setup): no server state */
  signedOutCsrf: RequestHandler;
  /** a signed-out form's CSRF token; sets its cookie, writes nothing to the database */
  signedOutCsrfToken(req: Request, res: Response): string;
  /**
   * The consent form's answer is a redirect to the consumer's callback; CSP form-action
   * covers that redirect, so the consent page allows exactly that one origin as well.
   */
  allowFormActionTo(req: Request, res: Response, origin: string): void;
  /**
   * What the layout needs for a page rendered outside a router (the error and not-found
   * pages): who is signed in, for the navigation, and a CSRF token for its sign-out form.
   * Never fails: a page about an error must not become another error.
   */
  chrome(req: Request): Promise<{ viewer: UserRecord | null; csrfToken: string }>;
  /** res.render with who is signed in (for the navigation) and a CSRF token for its forms. */
  render(req: Request, res: Response, view: string, locals: Record<string, unknown>, status?: number): void;
}

export function createWebKit(s: Wiring): WebKit {
  const https = s.config.baseUrl?.protocol === 'https:';
  const csrf = createCsrf(s);

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
  const sessionFor = sessionMiddleware(s);

  return {
    page: [markPage, pageHeaders, sessionFor],
    session: sessionFor,
    form: formBody(),
    csrf: csrf.sessionCheck,
    csrfToken: csrf.sessionToken,
    signedOutCsrf: csrf.signedOutCheck,
    signedOutCsrfToken: csrf.signedOutToken,
    allowFormActionTo(req, res, origin) {
      headers({ ...CSP, formAction: ["'self'", origin] })(req, res, () => undefined);
    },
    async chrome(req) {
      if (!sessionOf(req)) return { viewer: null, csrfToken: '' };
      const viewer = await currentUser(req, s).catch(() => null);
      return { viewer, csrfToken: viewer ? csrf.sessionToken(req) : '' };
    },
    render(req, res, view, locals, status = 200) {
      const viewer = webLocals(req).viewer ?? null;
      const session = sessionOf(req);
      const flash = session?.flash ?? null;
      if (session && flash !== null) delete session.flash;
      res.status(status).render(view, {
        viewer,
        flash,
        ...locals,
        csrfToken: (locals.csrfToken as string | undefined) ?? (viewer ? csrf.sessionToken(req) : ''),
      });
    },
  };
}

/** CSRF check of a signed-in form; a refusal is our 403 page (the error handler knows EBADCSRFTOKEN). */
export function requireCsrf(web: WebKit): RequestHandler {
  return web.csrf;
}

/** Pages for administrators: others signed in get 403. */
export function requireAdmin(s: Wiring, web: WebKit): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const user = await currentUser(req, s);
    // Strangers are sent to sign in when they look, refused when they try to change something.
    if (!user && req.method === 'GET') {
      res.redirect(302, loginUrl(s, req.originalUrl, req));
      return;
    }
    if (user?.isAdmin) {
      next();
      return;
    }
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
