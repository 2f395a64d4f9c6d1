/**
 * createApp(services): the whole HTTP surface, without listen(). Everything is mounted
 * under the base URL's path, so `https://host/applink` serves `/applink/oauth/...`.
 */
import express, { Router, type Express } from 'express';
import { isIP } from 'node:net';
import { OAuthProblem } from '../oauth1/problems';
import { PUBLIC_DIR, VIEWS_DIR } from '../paths';
import { errorHandler, PAGE, renderPage } from './errors';
import { oauthRouter } from './oauth-router';
import { apiRouter } from './api-router';
import { createWebKit, currentUser, loginUrl, requireAdmin, requireUser, webRouter } from './web';
import { trustProxyHops } from './forwarded';
import { publicRoot } from './request-parts';
import { profileRouter } from './profile-router';
import { adminRouter } from './admin';
import { recentFailures, unknownKeys } from '../db/failure-log';
import { setupRouter } from './setup-router';
import { layoutEngine, viewHelpers } from './views';
import { gatewayRouter } from '../gateway/router';
import type { Wiring } from '../wiring';
import { requestTracker, type Tracked } from './access';

export function createApp(s: Wiring): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // The client address, scheme and host are the trusted proxy's entries of X-Forwarded-*,
  // never the leftmost ones, which any client can write (forwarded.ts).
  trustProxyHops(app, s.config.trustProxyHops);
  app.set('views', VIEWS_DIR);
  app.engine('ejs', layoutEngine(VIEWS_DIR));
  app.set('view engine', 'ejs');
  app.locals.basePath = s.config.basePath;
  Object.assign(app.locals, viewHelpers);

  // A request the fast path (front.ts) began and could not finish carries its error here:
  // it goes straight to the one error handler below, which answers it as for any route.
  app.use((req, _res, next) => next((req as { [FAST_PATH_FAILURE]?: unknown })[FAST_PATH_FAILURE]));

  // One structured line and the metrics per request (shared with the fast path).
  const track = requestTracker(s);
  app.use((req, res, next) => {
    track(req, res as Tracked);
    next();
  });

  // With APPLINK_TRUST_PROXY the client address comes from X-Forwarded-For; it is stored
  // in the audit log, so it must be an address.
  if (s.config.trustProxy) {
    app.use((req, _res, next) => next(forwardedAddressProblem(req.ip)));
  }

  // The signed API calls first, mounted on the app itself: the hot path meets no other
  // route and no extra router level on its way.
  app.use(s.config.basePath || '/', apiRouter(s));

  const root = Router();
  root.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  root.get('/readyz', async (req, res) => {
    // A node that is shutting down tells its load balancer to send traffic elsewhere.
    if (req.app.get('draining')) return void res.status(503).json({ status: 'shutting down' });
    try {
      await s.db.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unavailable' });
    }
  });

  root.get('/metrics', async (_req, res) => {
    res.set('Content-Type', s.metrics.registry.contentType).send(await s.metrics.registry.metrics());
  });

  // Our own stylesheet (no CDN): the pages' CSP allows styles from this origin only.
  root.use(
    '/static',
    express.static(PUBLIC_DIR, {
      index: false,
      maxAge: '1h',
      setHeaders: (res) => res.set('X-Content-Type-Options', 'nosniff'),
    }),
  );

  // Before the browser routers: gateway calls must not meet sessions or form parsing.
  root.use(gatewayRouter(s));
  const web = createWebKit(s);
  root.use(oauthRouter(s, web));
  // The management pages get the services and the session helpers they use, nothing more.
  const pages = {
    basePath: s.config.basePath,
    publicRoot: (req: express.Request) => publicRoot(s.config, req),
    currentUser: (req: express.Request) => currentUser(req, s),
  };
  root.use(setupRouter({ ...pages, services: { firstRun: s.firstRun, users: s.users } }, web));
  root.use(
    '/admin',
    adminRouter(
      {
        ...pages,
        derivedBaseUrl: !s.config.baseUrl,
        services: { consumers: s.consumers, users: s.users, grants: s.grants, audits: s.audits },
        failures: {
          recent: (consumerId) => recentFailures(s.db.knex, consumerId),
          unknownKeys: () => unknownKeys(s.db.knex),
        },
        requireAdmin: requireAdmin(s, web),
      },
      web,
    ),
  );
  root.use(
    profileRouter(
      {
        ...pages,
        services: { grants: s.grants, users: s.users },
        requireUser: requireUser(s),
        loginUrl: (next, req) => loginUrl(s, next, req),
      },
      web,
    ),
  );
  root.use(webRouter(s, web));
  root.get('/', async (_req, res) =>
    res.redirect(302, `${s.config.basePath}${(await s.firstRun.isOpen()) ? '/setup' : '/profile/authorized-apps'}`),
  );
  root.use(async (req, res) => {
    res.status(404);
    const page = (res.locals as Record<symbol, boolean>)[PAGE] === true;
    const text = page ? 'There is no page at this address.' : 'Not found';
    await renderPage(req, res, page, 'error', { title: 'Not found', message: text }, (r) => web.chrome(r));
  });

  app.use(s.config.basePath || '/', root);
  app.use(errorHandler(s, (req) => web.chrome(req)));
  return app;
}

/**
 * With APPLINK_TRUST_PROXY the client address comes from X-Forwarded-For and is stored in
 * the audit log, so it must be an address: the problem to answer when it is not.
 */
export function forwardedAddressProblem(ip: string | undefined): OAuthProblem | undefined {
  return ip !== undefined && isIP(ip) === 0
    ? new OAuthProblem('parameter_rejected', { advice: 'X-Forwarded-For does not hold a valid address.' })
    : undefined;
}

/** Set on a request the fast path hands to the app to be answered with its error. */
export const FAST_PATH_FAILURE = Symbol('fast path failure');
