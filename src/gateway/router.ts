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
import { collectParams, isFormContentType } from '../oauth1/params';
import { OAuthProblem } from '../oauth1/problems';
import { requestParts } from '../http/request-parts';
import { SESSION_COOKIE } from '../http/web';
import type { Services } from '../services';
import { signAssertion } from './assertion';
import { headerPolicy, upstreamRequestHeaders, type HeaderPolicy } from './headers';
import { agentFor, forward, type ProxyOutcome } from './proxy';
import { matchRoute, nonCanonicalPath, upstreamTarget, withoutOAuthPairs, type RouteMatch } from './routes';

/** The cookie Cloudflare Access signs browsers in with: never an upstream's business. */
const CLOUDFLARE_COOKIE = 'CF_Authorization';

const BUFFER = Symbol('read the body before verification');
type Marked = IncomingMessage & { [BUFFER]?: boolean };

/**
 * Whether the body must be read before verification: a form body (its parameters are
 * signed), or a body covered by oauth_body_hash. The latter is decided from the protocol
 * parameters as the verifier parses them (header and query, names and values decoded), so
 * no spelling of the name (`oauth%5Fbody%5Fhash`, `%6Fauth_body_hash`) can skip the read.
 */
function mustBuffer(req: IncomingMessage): boolean {
  if (isFormContentType(req.headers['content-type'])) return true;
  const params = collectParams({
    method: req.method ?? '',
    origin: '',
    target: req.url ?? '/',
    authorization: req.headers.authorization,
  });
  return params.oauth.oauth_body_hash !== undefined;
}

/** Verifies and forwards one gateway call; resolves when the exchange is over. */
export async function handleGatewayCall(
  s: Services,
  agents: ReadonlyMap<string, Agent>,
  policy: HeaderPolicy,
  match: RouteMatch,
  req: Request,
  res: Response,
): Promise<ProxyOutcome> {
  const parts = requestParts(req, s.config);
  const { token, consumer, params } = await authenticateApiCall(parts, req.ip ?? '', s);

  let body: Buffer | null = Buffer.isBuffer(req.body) ? req.body : null;
  // Belt and braces: a hash the verifier checked must have been checked against the body
  // that is sent, never against an unread one.
  if (params.oauth.oauth_body_hash !== undefined && body === null) {
    throw new OAuthProblem('parameter_rejected', {
      advice: 'oauth_body_hash could not be checked against the body.',
      parametersRejected: ['oauth_body_hash'],
    });
  }

  // The issuer is the configured base URL (gateway routes require it), never a Host header.
  const issuer = s.config.baseUrl!.origin + s.config.basePath;
  const prefix = s.config.basePath + match.route.prefix;
  const assertion = await signAssertion(
    await s.gatewayKeys.signingKey(),
    { issuer, audience: issuer + match.route.prefix, user: token.user, consumerKey: consumer.key, grantId: token.id },
    s.clock.now(),
  );

  if (body && params.formEncoded) body = Buffer.from(withoutOAuthPairs(body.toString('latin1')), 'latin1');
  const upstream = match.route.upstream;
  const headers = upstreamRequestHeaders(
    req.headers,
    policy,
    upstream.host,
    { assertion, username: token.user.username, consumerKey: consumer.key },
    {
      clientIp: req.ip ?? req.socket.remoteAddress ?? '',
      proto: s.config.baseUrl!.protocol.slice(0, -1),
      host: s.config.baseUrl!.host,
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
      owned: policy.owned,
      cookiePath: prefix,
    },
    s.logger,
    { reqId: res.locals.reqId, route: match.route.prefix },
  );
}

export function gatewayRouter(s: Services): Router {
  const router = Router();
  const routes = s.config.gatewayRoutes;
  if (routes.length === 0) return router;
  if (!s.config.baseUrl) throw new Error('gateway routes need APPLINK_BASE_URL');

  router.get('/.well-known/jwks.json', async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').json(await s.gatewayKeys.jwks());
  });

  const agents = new Map(routes.map((r) => [r.prefix, agentFor(r.upstream)]));
  const owned = [SESSION_COOKIE, CLOUDFLARE_COOKIE, ...(s.config.sso ? [s.config.sso.cookie] : [])];
  const policy = headerPolicy(s.config.gatewayForwardHeaders, owned);
  const buffer = express.raw({
    type: (req) => (req as Marked)[BUFFER] === true,
    limit: s.config.gatewayBufferLimit,
    inflate: false,
  });

  router.use(
    (req, res, next) => {
      const match = matchRoute(routes, req.url);
      if (!match) {
        next('router');
        return;
      }
      const problem = nonCanonicalPath(match.rest);
      if (problem !== null) throw new OAuthProblem('parameter_rejected', { advice: problem });
      // Never tunnelled: a WebSocket (or any) upgrade is refused before verification, rather
      // than reaching the upstream as a plain request.
      if (req.headers.upgrade !== undefined) {
        throw new OAuthProblem('parameter_rejected', {
          advice: 'Protocol upgrades (WebSocket) are not supported through the gateway.',
        });
      }
      (req as Marked)[BUFFER] = mustBuffer(req);
      res.locals.gatewayMatch = match;
      // metrics and logs: one label per configured prefix, never the upstream path
      res.locals.routeLabel = `${match.route.prefix}/*`;
      next();
    },
    buffer,
    async (req: Request, res: Response) => {
      await handleGatewayCall(s, agents, policy, res.locals.gatewayMatch as RouteMatch, req, res);
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
