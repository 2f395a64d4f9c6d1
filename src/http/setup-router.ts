/**
 * First run: /setup creates the first administrator while none exists, guarded by the
 * one-time code from the server log (src/first-run.ts, src/services/setup.ts) and a
 * per-address brake on wrong codes, shared across nodes (src/services/brakes.ts). The
 * form is a signed-out form: its CSRF token is stateless, so showing it writes nothing.
 * Once an administrator exists, /setup is gone (404).
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { saveSession, startSession, type WebKit } from './web';
import { SETUP_LIMITS } from '../services/brakes';
import { formBody, formText, parseForm, setupForm } from './forms';
import { onServiceError } from './service-errors';
import type { ManagementServices } from '../wiring';

/** Wrong setup codes per address per window (SETUP_LIMITS in src/services/brakes.ts). */
export const SETUP_ATTEMPT_LIMIT = SETUP_LIMITS.perAddress;

export interface SetupRouterDeps {
  basePath: string;
  /** the service's public root URL for this request (src/http/request-parts.ts publicRoot) */
  publicRoot: (req: Request) => string;
  services: Pick<ManagementServices, 'firstRun' | 'users'>;
}

const text = (v: unknown, max: number): string => formText.parse(v).slice(0, max);

export function setupRouter(d: SetupRouterDeps, web: WebKit): Router {
  const setup = d.services.firstRun;
  const router = Router();
  const setupUrl = (req: Request) => `${d.publicRoot(req)}/setup`;

  const onlyWhileOpen: RequestHandler = async (_req: Request, _res: Response, next: NextFunction) => {
    // no setup once an admin exists: the 404 page
    next((await setup.isOpen()) ? undefined : 'router');
  };

  const show = async (req: Request, res: Response, error: string | null = null, status = 200) => {
    await setup.ensureCode(setupUrl(req));
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
        csrfToken: web.signedOutCsrfToken(req, res),
      },
      status,
    );
  };

  router.get('/setup', ...web.page, onlyWhileOpen, (req, res) => show(req, res));

  router.post(
    '/setup',
    ...web.page,
    onlyWhileOpen,
    web.form,
    web.signedOutCsrf,
    // (a taken username or email re-shows the form as 400, like a malformed one; a braked
    // attempt as 429, its Retry-After set by the one serialiser)
    onServiceError(
      (e, req, res) => show(req, res, e.message, e.code === 'conflict' ? 400 : e.httpStatus),
      ['invalid_input', 'conflict', 'forbidden', 'throttled'],
    ),
    async (req, res) => {
      const form = parseForm(setupForm, req.body);
      // the brakes, the code and the audit entries are the setup service's
      const admin = await setup.createFirstAdmin({ setupCode: form.setupCode, ip: req.ip ?? null }, form.user);
      await startSession(req, d.services.users, admin);
      req.session.flash = `Welcome, ${admin.displayName}. You are the first administrator. Create a consumer to link an application.`;
      await saveSession(req);
      res.redirect(302, `${d.basePath}/admin`);
    },
  );

  return router;
}
