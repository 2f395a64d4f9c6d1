/**
 * First run: /setup creates the first administrator while none exists, guarded by the
 * one-time code from the server log (src/first-run.ts) and a per-address rate limit.
 * Once an administrator exists, /setup is gone (404).
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { requireCsrf, startSession, type WebKit } from './web';
import { requestOrigin } from './request-parts';
import { formString as str, newUserFields } from './views';
import { DuplicateError, InvalidUserError, validateNewUser } from '../db/users';
import type { Services } from '../services';

export const SETUP_ATTEMPT_LIMIT = 10;
export const SETUP_WINDOW_MS = 15 * 60 * 1000;

export function setupRouter(s: Services, web: WebKit): Router {
  const router = Router();
  const setupUrl = (req: Request) =>
    `${s.config.baseUrl ? s.config.baseUrl.origin : requestOrigin(req, s.config)}${s.config.basePath}/setup`;

  const onlyWhileOpen = async (_req: Request, _res: Response, next: NextFunction) => {
    if (await s.firstRun.isOpen()) {
      next();
      return;
    }
    next('router'); // no setup once an admin exists: the 404 page
  };

  const show = (req: Request, res: Response, error: string | null = null, status = 200) => {
    s.firstRun.ensureCode(setupUrl(req));
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
        csrfToken: web.csrfToken(req),
      },
      status,
    );
  };

  // Every attempt counts (a right code ends setup anyway).
  const limiter = rateLimit({
    windowMs: SETUP_WINDOW_MS,
    limit: SETUP_ATTEMPT_LIMIT,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (req, res) =>
      show(req, res, 'Too many attempts from your address. Wait a few minutes and try again.', 429),
  });

  router.get('/setup', ...web.page, onlyWhileOpen, (req, res) => show(req, res));

  router.post('/setup', ...web.page, onlyWhileOpen, limiter, web.form, requireCsrf(web), async (req, res) => {
    const b = req.body as Record<string, unknown>;
    const fields = newUserFields(b, true);
    try {
      validateNewUser(fields);
    } catch (e) {
      if (e instanceof InvalidUserError) {
        show(req, res, e.message, 400);
        return;
      }
      throw e;
    }
    if (fields.password !== str(b.passwordAgain, 2000)) {
      show(req, res, 'The two passwords differ.', 400);
      return;
    }
    const giveBack = s.firstRun.take(str(b.setupCode, 100), setupUrl(req));
    if (!giveBack) {
      await s.store.audit({ event: 'setup.failed', ip: req.ip ?? null, detail: { reason: 'wrong setup code' } });
      show(req, res, 'That setup code is not right. Copy it from the server log.', 403);
      return;
    }
    let admin;
    try {
      admin = await s.users.create(fields);
    } catch (e) {
      giveBack();
      if (e instanceof DuplicateError) {
        show(req, res, 'A user with this username or email exists.', 400);
        return;
      }
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
