/**
 * GET/POST /login and POST /logout. The sign-in form is a signed-out form: its CSRF token
 * is stateless (csrf.ts), so showing it writes nothing. A post counts as an attempt only
 * once it passed the CSRF check and carries a username and a password; the attempt, its
 * brakes and its audit entries are the sign-in service's (src/services/sign-in.ts).
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Wiring } from '../../wiring';
import type { WebKit } from './index';
import { safeNext } from './next';
import { requestingApp } from '../requesting-app';
import { currentUser, loginUrl, SESSION_COOKIE, startSession } from './session';
import { webLocals } from './state';

export function webRouter(s: Wiring, web: WebKit): Router {
  const router = Router();
  router.use(web.page);
  const origin = s.config.baseUrl?.origin;
  const nextOf = (v: unknown) => safeNext(v, s.config.basePath, origin);

  const showLogin = async (req: Request, res: Response, error?: string, status = 200) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = nextOf(req.method === 'GET' ? req.query.next : body.next);
    web.render(
      req,
      res,
      'login',
      {
        title: 'Sign in',
        error: error ?? null,
        next,
        requestingApp: await requestingApp(s, next),
        username: typeof body.username === 'string' ? body.username.slice(0, 200) : '',
        setupOpen: await s.firstRun.isOpen(),
        // no form, no token: an SSO-only sign-in page sets no cookie at all
        csrfToken: s.config.loginForm ? web.signedOutCsrfToken(req, res) : '',
        loginForm: s.config.loginForm,
        sso: s.sso !== null,
        ssoRefused: req.query.sso === 'refused' || webLocals(req).ssoRefused !== undefined,
      },
      status,
    );
  };

  router.get('/login', async (req, res) => {
    // Signed in already (behind the proxy: a valid assertion signs in here) -> go on.
    // `sso=refused` means a page just tried and failed; say so instead of trying again.
    if (req.query.sso !== 'refused' && (await currentUser(req, s))) res.redirect(302, nextOf(req.query.next));
    else await showLogin(req, res);
  });

  const formEnabled: RequestHandler = (req, res, next) => {
    if (s.config.loginForm) next();
    else showLogin(req, res, 'Sign-in with a password is turned off here.', 403).catch(next);
  };

  router.post('/login', formEnabled, web.form, web.signedOutCsrf, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    // Not an attempt: nothing to count, nothing to write.
    if (!username || !password) return showLogin(req, res, 'Enter your username and password.', 400);
    const target = nextOf(body.next);
    const result = await s.signIn.withPassword({ username, password, ip: req.ip ?? null }, (user) =>
      startSession(req, s.users, user),
    );
    if (result.ok) res.redirect(302, target);
    else if (result.reason === 'throttled') {
      res.set('Retry-After', String(result.retryAfterS));
      await showLogin(req, res, 'Too many sign-in attempts. Wait a few minutes and try again.', 429);
    } else await showLogin(req, res, 'Wrong username or password, or the account is disabled.', 401);
  });

  router.post('/logout', web.form, web.csrf, (req, res, next) => {
    const back = nextOf((req.body as Record<string, unknown>).next);
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie(SESSION_COOKIE, { path: s.config.basePath || '/' });
      // "Not you?" on the consent page: sign in as someone else and come back to it.
      res.redirect(
        302,
        back.startsWith(`${s.config.basePath}/oauth/authorize`) || back.startsWith(`${s.config.basePath}/plugins/`)
          ? loginUrl(s, back)
          : loginUrl(s),
      );
    });
  });

  return router;
}
