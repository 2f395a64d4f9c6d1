/**
 * createApp(services): the whole HTTP surface, without listen(). Everything is mounted
 * under the base URL's path, so `https://host/applink` serves `/applink/oauth/...`.
 */
import express, { Router, type Express } from 'express';
import { randomUUID } from 'node:crypto';
import { VIEWS_DIR } from '../paths';
import { errorHandler, PAGE } from './errors';
import { oauthRouter } from './oauth-router';
import { apiRouter } from './api-router';
import { createWebKit, webRouter } from './web';
import type { Services } from '../services';
import { accessLogger } from '../logger';

export function createApp(s: Services): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', s.config.trustProxy);
  app.set('views', VIEWS_DIR);
  app.set('view engine', 'ejs');
  app.locals.basePath = s.config.basePath;

  const access = accessLogger(s.logger);
  app.use((req, res, next) => {
    const id = randomUUID();
    res.locals.reqId = id;
    const start = performance.now();
    res.on('finish', () => {
      access.info(
        {
          reqId: id,
          method: req.method,
          // the path only: queries can carry tokens
          path: req.path,
          status: res.statusCode,
          ms: Math.round((performance.now() - start) * 1000) / 1000,
          oauth_problem: res.locals.oauthProblem,
        },
        'request',
      );
    });
    next();
  });

  // The signed API calls first, mounted on the app itself: the hot path meets no other
  // route and no extra router level on its way.
  app.use(s.config.basePath || '/', apiRouter(s));

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

  const web = createWebKit(s);
  root.use(oauthRouter(s, web));
  root.use(webRouter(s, web));
  root.get('/', (_req, res) => res.redirect(302, `${s.config.basePath}/profile/authorized-apps`));
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
