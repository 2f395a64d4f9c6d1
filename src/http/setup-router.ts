/**
 * First run: /setup creates the first administrator while none exists, guarded by the
 * one-time code from the server log (src/first-run.ts, src/services/setup.ts) and a
 * per-address rate limit. Once an administrator exists, /setup is gone (404).
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { requireCsrf, startSession, type WebKit } from './web';
import { formBody, formText, parseForm, setupForm } from './forms';
import { onServiceError } from './service-errors';
import type { ManagementServices } from '../wiring';

export const SETUP_ATTEMPT_LIMIT = 10;
export const SETUP_WINDOW_MS = 15 * 60 * 1000;

export interface SetupRouterDeps {
  basePath: string;
  /** the service's public root URL for this request (src/http/request-parts.ts publicRoot) */
  publicRoot: (req: Request) => string;
  services: Pick<ManagementServices, 'firstRun'>;
}

const text = (v: unknown, max: number): string => formText.parse(v).slice(0, max);

export function setupRouter(d: SetupRouterDeps, web: WebKit): Router {
  const setup = d.services.firstRun;
  const router = Router();
  const setupUrl = (req: Request) => `${d.publicRoot(req)}/setup`;

  const onlyWhileOpen: RequestHandler = async (_req: Request, _res: Response, next: NextFunction) => {
    if (await setup.isOpen()) return next();
    next('router'); // no setup once an admin exists: the 404 page
  };

  const show = (req: Request, res: Response, error: string | null = null, status = 200) => {
    setup.ensureCode(setupUrl(req));
    const b = formBody(req.body);
    web.render(
      req,
      res,
      'setup',
      {
        title: 'Set up applink',
        error,
        // everything typed comes back after an error, the setup code too (the passwords do not)
        form: {
          setupCode: text(b.setupCode, 100),
          username: text(b.username, 200),
          email: text(b.email, 400),
          displayName: text(b.displayName, 300),
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

  router.post(
    '/setup',
    ...web.page,
    onlyWhileOpen,
    limiter,
    web.form,
    requireCsrf(web),
    onServiceError(
      (e, req, res) => show(req, res, e.message, e.code === 'forbidden' ? 403 : 400),
      ['invalid_input', 'conflict', 'forbidden'],
    ),
    async (req, res) => {
      const form = parseForm(setupForm, req.body);
      const admin = await setup.createFirstAdmin(
        { setupCode: form.setupCode, setupUrl: setupUrl(req), ip: req.ip ?? null },
        form.user,
      );
      await startSession(req, admin);
      req.session.flash = `Welcome, ${admin.displayName}. You are the first administrator. Create a consumer to link an application.`;
      await new Promise<void>((resolve, reject) => req.session.save((e) => (e ? reject(e as Error) : resolve())));
      res.redirect(302, `${d.basePath}/admin`);
    },
  );

  return router;
}
