/**
 * createApp(services): the whole HTTP surface, without listen(). Everything is mounted
 * under the base URL's path, so `https://host/applink` serves `/applink/oauth/...`.
 */
import express, { Router, type Express } from 'express';
import { randomUUID } from 'node:crypto';
import { PUBLIC_DIR, VIEWS_DIR } from '../paths';
import { errorHandler, PAGE } from './errors';
import { oauthRouter } from './oauth-router';
import { apiRouter } from './api-router';
import { createWebKit, webRouter } from './web';
import { profileRouter } from './profile-router';
import { adminRouter } from './admin-router';
import { setupRouter } from './setup-router';
import { layoutEngine } from './views';
import { gatewayRouter } from '../gateway/router';
import type { Services } from '../services';

export function createApp(s: Services): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', s.config.trustProxy);
  app.set('views', VIEWS_DIR);
  app.engine('ejs', layoutEngine(VIEWS_DIR));
  app.set('view engine', 'ejs');
  app.locals.basePath = s.config.basePath;

  app.use((req, res, next) => {
    const id = randomUUID();
    res.locals.reqId = id;
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      s.logger.info(
        {
          reqId: id,
          method: req.method,
          // the path only: queries can carry tokens
          path: req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - start) / 1e6,
          oauth_problem: res.locals.oauthProblem,
        },
        'request',
      );
    });
    next();
  });

  const root = Router();
  root.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  root.get('/readyz', async (_req, res) => {
    try {
      await s.db.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unavailable' });
    }
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
  root.use(apiRouter(s));
  root.use(oauthRouter(s, web));
  root.use(setupRouter(s, web));
  root.use('/admin', adminRouter(s, web));
  root.use(profileRouter(s, web));
  root.use(webRouter(s, web));
  root.get('/', async (_req, res) =>
    res.redirect(302, `${s.config.basePath}${(await s.firstRun.isOpen()) ? '/setup' : '/profile/authorized-apps'}`),
  );
  root.use((_req, res) => {
    res.status(404);
    if ((res.locals as Record<symbol, boolean>)[PAGE])
      return res.render('error', { title: 'Not found', message: 'There is no page at this address.' });
    res.type('text/plain').send('Not found');
  });

  app.use(s.config.basePath || '/', root);
  app.use(errorHandler(s));
  return app;
}
