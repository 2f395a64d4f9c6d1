/**
 * The three protocol endpoints of RFC 5849 §2, also under Atlassian's paths. Routers
 * convert, call the core, respond; errors go to the one error handler.
 */
import { Router, type Request, type Response } from 'express';
import { formatForm } from '../oauth1/encoding';
import { issueRequestToken } from '../oauth1/flows/request-token';
import { accessTokenAnswer, accessTokenEndpoint } from '../oauth1/flows/access-token';
import { callbackWith, decideAuthorization, findPendingAuthorization } from '../oauth1/flows/authorize';
import { requestParts } from './request-parts';
import { signedBody } from './body';
import { currentUser, loginUrl, requireCsrf, type WebKit } from './web';
import { callbackOrigin, when } from './views';
import type { Wiring } from '../wiring';

function sendForm(res: Response, pairs: Array<[string, string]>): void {
  res.set('Cache-Control', 'no-store').type('application/x-www-form-urlencoded').send(formatForm(pairs));
}

export function oauthRouter(s: Wiring, web: WebKit): Router {
  const router = Router();
  const raw = signedBody();

  const requestToken = async (req: Request, res: Response) => {
    const r = await issueRequestToken(requestParts(req, s.config), req.ip ?? '', s);
    sendForm(res, [
      ['oauth_token', r.token],
      ['oauth_token_secret', r.secret],
      ['oauth_callback_confirmed', 'true'],
    ]);
  };

  const accessToken = async (req: Request, res: Response) => {
    const r = await accessTokenEndpoint(requestParts(req, s.config), req.ip ?? '', s);
    sendForm(res, accessTokenAnswer(r, s.clock.now()));
  };

  const consent = async (req: Request, res: Response) => {
    const token = typeof req.query.oauth_token === 'string' ? req.query.oauth_token : undefined;
    const user = await currentUser(req, s);
    if (!user) {
      res.redirect(302, loginUrl(s, req.originalUrl, req));
      return;
    }
    const { consumer, token: rt } = await findPendingAuthorization(token, s);
    const origin = callbackOrigin(rt.callback);
    if (origin) web.allowFormActionTo(req, res, origin);
    web.render(req, res, 'consent', {
      title: `Allow ${consumer.name}?`,
      user,
      consumer: { name: consumer.name, description: consumer.description, key: consumer.key },
      callbackOrigin: origin,
      oauthToken: token,
      // "Not you?": sign out and come back here as someone else
      here: req.originalUrl,
      expiresAt: when(rt.expiresAt),
      csrfToken: web.csrfToken(req),
    });
  };

  const decide = async (req: Request, res: Response) => {
    const user = await currentUser(req, s);
    if (!user) {
      res.redirect(302, loginUrl(s));
      return;
    }
    const body = req.body as Record<string, unknown>;
    const token = typeof body.oauth_token === 'string' ? body.oauth_token : undefined;
    const d = await decideAuthorization(token, user, body.decision === 'allow', req.ip ?? '', s);
    const consumer = { name: d.consumer.name };
    if (d.kind === 'allow') {
      if (d.callback === 'oob') {
        web.render(req, res, 'verifier', { title: 'Enter this code', consumer, verifier: d.verifier });
        return;
      }
      res.redirect(302, callbackWith(d.callback, { oauth_token: d.token, oauth_verifier: d.verifier }));
      return;
    }
    if (d.callback === 'oob') {
      web.render(req, res, 'denied', { title: 'Access denied', consumer });
      return;
    }
    res.redirect(
      302,
      callbackWith(d.callback, { oauth_token: d.token, oauth_verifier: 'denied', oauth_problem: 'permission_denied' }),
    );
  };

  for (const prefix of ['/oauth', '/plugins/servlet/oauth']) {
    router.post(`${prefix}/request-token`, raw, requestToken);
    router.get(`${prefix}/request-token`, raw, requestToken);
    router.post(`${prefix}/access-token`, raw, accessToken);
    router.get(`${prefix}/access-token`, raw, accessToken);
    router.get(`${prefix}/authorize`, ...web.page, consent);
    router.post(`${prefix}/authorize`, ...web.page, web.form, requireCsrf(web), decide);
  }
  return router;
}
