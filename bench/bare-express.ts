// The yardstick: bare Express 5 (defaults, no middleware beyond what a route needs)
// answering the same requests with fixed bodies and doing no OAuth work at all.
import express from 'express';
import type { AddressInfo } from 'node:net';

const me = { username: 'bench', email: 'bench@example.com', displayName: 'Bench User' };
const token = 'Ab0'.repeat(14) + 'x';

export function bareApp(): express.Express {
  const app = express();
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/rest/api/1/myself', (_req, res) => {
    res.set('Cache-Control', 'no-store').json(me);
  });
  app.post('/rest/api/1/myself', express.urlencoded({ extended: false }), (req, res) => {
    const name = (req.body as Record<string, string>).displayName;
    res.set('Cache-Control', 'no-store').json({ ...me, displayName: name });
  });
  // The dance's four legs with canned answers: same requests, no work.
  const form = (res: express.Response, body: string) =>
    res.set('Cache-Control', 'no-store').type('application/x-www-form-urlencoded').send(body);
  app.post('/oauth/request-token', (_req, res) =>
    form(res, `oauth_token=${token}&oauth_token_secret=${token}&oauth_callback_confirmed=true`),
  );
  app.get('/oauth/authorize', (req, res) => {
    res
      .type('html')
      .send(
        `<!doctype html><form method="post"><input type="hidden" name="_csrf" value="${token}">` +
          `<input type="hidden" name="oauth_token" value="${typeof req.query.oauth_token === 'string' ? req.query.oauth_token : ''}"></form>`,
      );
  });
  app.post('/oauth/authorize', express.urlencoded({ extended: false }), (req, res) => {
    const t = (req.body as Record<string, string>).oauth_token ?? '';
    res.redirect(302, `http://127.0.0.1:9/cb?oauth_token=${encodeURIComponent(t)}&oauth_verifier=0123456789abcdef0123`);
  });
  app.post('/oauth/access-token', (_req, res) => form(res, `oauth_token=${token}&oauth_token_secret=${token}`));
  return app;
}

if (require.main === module) {
  const port = Number(process.argv[2] ?? 0);
  const srv = bareApp().listen(port, '127.0.0.1', () => {
    process.stdout.write(`listening ${(srv.address() as AddressInfo).port}\n`);
  });
  srv.keepAliveTimeout = 65_000;
  process.on('SIGTERM', () => srv.close(() => process.exit(0)));
}
