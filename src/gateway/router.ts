/**
 * The gateway's HTTP surface: /.well-known/jwks.json, and every configured route prefix.
 * A call under a prefix is verified by the same authenticateApiCall as every API call
 * (same problems, audit and last_used), then forwarded with an Applink-Jwt-Assertion.
 *
 * Bodies: a form body is read (up to APPLINK_GATEWAY_BUFFER_LIMIT) because its parameters
 * are signed, and replayed; so is a body covered by oauth_body_hash, since the hash must be
 * checked before anything reaches the upstream. Every other body is never held: after
 * verification the request stream itself is piped to the upstream.
 */
import express, { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import type { Agent, IncomingMessage } from 'node:http';
import { authenticateApiCall } from '../oauth1/flows/api-call';
import { isFormContentType } from '../oauth1/params';
import { OAuthProblem } from '../oauth1/problems';
import { requestParts } from '../http/request-parts';
import type { Services } from '../services';
import { signAssertion } from './assertion';
import { upstreamRequestHeaders } from './headers';
import { agentFor, forward, type ProxyOutcome } from './proxy';
import { hasDotSegment, matchRoute, upstreamTarget, withoutOAuthPairs, type RouteMatch } from './routes';

// oauth_body_hash in the Authorization header or the query, encoded or not. A miss can
// only fail closed (the hash of an unread body does not match), never let a body through.
const BODY_HASH = /oauth(?:_|%5f)body(?:_|%5f)hash/i;

const needsBuffering = (req: IncomingMessage): boolean =>
  isFormContentType(req.headers['content-type']) ||
  BODY_HASH.test(req.headers.authorization ?? '') ||
  (req.url !== undefined && req.url.indexOf('?') !== -1 && BODY_HASH.test(req.url));

/** Verifies and forwards one gateway call; resolves when the exchange is over. */
export async function handleGatewayCall(
  s: Services,
  agents: ReadonlyMap<string, Agent>,
  match: RouteMatch,
  req: Request,
  res: Response,
): Promise<ProxyOutcome> {
  const parts = requestParts(req, s.config);
  const { token, consumer, params } = await authenticateApiCall(parts, req.ip ?? '', s);

  const issuer = parts.origin + s.config.basePath;
  const prefix = s.config.basePath + match.route.prefix;
  const assertion = await signAssertion(
    await s.gatewayKeys.signingKey(),
    { issuer, audience: issuer + match.route.prefix, user: token.user, consumerKey: consumer.key, grantId: token.id },
    s.clock.now(),
  );

  let body: Buffer | null = Buffer.isBuffer(req.body) ? req.body : null;
  if (body && params.formEncoded) body = Buffer.from(withoutOAuthPairs(body.toString('latin1')), 'latin1');
  const upstream = match.route.upstream;
  const headers = upstreamRequestHeaders(
    req.headers,
    upstream.host,
    { assertion, username: token.user.username, consumerKey: consumer.key },
    {
      clientIp: req.ip ?? req.socket.remoteAddress ?? '',
      proto: parts.origin.slice(0, parts.origin.indexOf(':')),
      host: parts.origin.slice(parts.origin.indexOf('//') + 2),
      prefix,
    },
    body === null ? null : body.length,
  );
  return forward(
    req,
    res,
    {
      upstream,
      target: upstreamTarget(match),
      method: req.method,
      headers,
      body,
      timeoutMs: s.config.gatewayTimeout,
      agent: agents.get(match.route.prefix)!,
    },
    s.logger,
    { reqId: res.locals.reqId, route: match.route.prefix },
  );
}

export function gatewayRouter(s: Services): Router {
  const router = Router();
  const routes = s.config.gatewayRoutes;
  if (routes.length === 0) return router;

  router.get('/.well-known/jwks.json', async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').json(await s.gatewayKeys.jwks());
  });

  const agents = new Map(routes.map((r) => [r.prefix, agentFor(r.upstream)]));
  const buffer = express.raw({ type: needsBuffering, limit: s.config.gatewayBufferLimit, inflate: false });

  router.use(
    (req, res, next) => {
      const match = matchRoute(routes, req.url);
      if (!match) return next('router');
      if (hasDotSegment(match.rest)) {
        throw new OAuthProblem('parameter_rejected', { advice: 'The path must not contain . or .. segments.' });
      }
      res.locals.gatewayMatch = match;
      // metrics and logs: one label per configured prefix, never the upstream path
      res.locals.routeLabel = `${match.route.prefix}/*`;
      next();
    },
    buffer,
    async (req: Request, res: Response) => {
      await handleGatewayCall(s, agents, res.locals.gatewayMatch as RouteMatch, req, res);
    },
  );

  // A refused call may leave a large body unread: close instead of reading it all.
  const closeUnread: ErrorRequestHandler = (err, req, res, next) => {
    if (!req.complete) res.setHeader('Connection', 'close');
    next(err);
  };
  router.use(closeUnread);
  return router;
}
