/**
 * First run: /setup creates the first administrator while none exists, guarded by the
 * one-time code from the server log (src/first-run.ts) and a per-address brake on wrong
 * codes, shared across nodes (src/http/web/brakes.ts). The form is a signed-out form: its
 * CSRF token is stateless, so showing it writes nothing. Once an administrator exists,
 * /setup is gone (404).
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { startSession, type WebKit } from './web';
import { brakesFor, SETUP_LIMITS } from './web/brakes';
import { requestOrigin } from './request-parts';
import { formString as str, newUserFields } from './views';
import { DuplicateError, InvalidUserError, validateNewUser } from '../db/users';
import type { Services } from '../services';

/** Wrong setup codes per address per window (SETUP_LIMITS in web/brakes.ts). */
export const SETUP_ATTEMPT_LIMIT = SETUP_LIMITS.perAddress;
export const SETUP_WINDOW_MS = SETUP_LIMITS.windowMs;

export function setupRouter(s: Services, web: WebKit): Router {
  const router = Router();
  const setupUrl = (req: Request) =>
    `${s.config.baseUrl ? s.config.baseUrl.origin : requestOrigin(req, s.config)}${s.config.basePath}/setup`;

  const onlyWhileOpen = async (_req: Request, _res: Response, next: NextFunction) => {
    if (await s.firstRun.isOpen()) return next();
    next('router'); // no setup once an admin exists: the 404 page
  };

  const brakes = brakesFor(s);
  const show = async (req: Request, res: Response, error: string | null = null, status = 200) => {
    await s.firstRun.ensureCode(setupUrl(req));
    const b = (req.body ?? {}) as Record<string, unknown>;
    web.render(
      req,
      res,
      'setup',
      {
        title: 'Set up applink',
        error,
        // everything typed comes back after an error, the setup code too (the passwords do not)
        form: {
          setupCode: str(b.setupCode, 100),
          username: str(b.username, 200),
          email: str(b.email, 400),
          displayName: str(b.displayName, 300),
        },
        csrfToken: web.signedOutCsrfToken(req, res),
      },
      status,
    );
  };

  router.get('/setup', ...web.page, onlyWhileOpen, (req, res) => show(req, res));

  router.post('/setup', ...web.page, onlyWhileOpen, web.form, web.signedOutCsrf, async (req, res) => {
    const b = req.body as Record<string, unknown>;
    const fields = newUserFields(b, true);
    try {
      validateNewUser(fields);
    } catch (e) {
      if (e instanceof InvalidUserError) return show(req, res, e.message, 400);
      throw e;
    }
    if (fields.password !== str(b.passwordAgain, 2000)) return show(req, res, 'The two passwords differ.', 400);
    const ip = req.ip ?? '';
    const braked = await brakes.setup(ip);
    if (!braked.ok) {
      await brakes.sampledAudit('setup.throttled', { event: 'setup.throttled', ip: req.ip ?? null });
      res.set('Retry-After', String(braked.retryAfterS));
      return show(req, res, 'Too many attempts from your address. Wait a few minutes and try again.', 429);
    }
    const giveBack = await s.firstRun.take(str(b.setupCode, 100));
    if (!giveBack) {
      await brakes.wrongSetupCode(ip);
      await s.store.audit({ event: 'setup.failed', ip: req.ip ?? null, detail: { reason: 'wrong setup code' } });
      return show(req, res, 'That setup code is not right. Copy it from the server log.', 403);
    }
    let admin;
    try {
      admin = await s.users.create(fields);
    } catch (e) {
      await giveBack();
      if (e instanceof DuplicateError) return show(req, res, 'A user with this username or email exists.', 400);
      throw e;
    }
    await s.store.audit({
      event: 'setup.completed',
      actorUserId: admin.id,
      ip: req.ip ?? null,
      detail: { username: admin.username },
    });
    await startSession(req, admin);
    req.session.flash = `Welcome, ${admin.displayName}. You are the first administrator. Create a consumer to link an application.`;
    await new Promise<void>((resolve, reject) => req.session.save((e) => (e ? reject(e as Error) : resolve())));
    res.redirect(302, `${s.config.basePath}/admin`);
  });

  return router;
}
