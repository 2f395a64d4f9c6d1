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
import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import type { Agent, IncomingMessage, ServerResponse } from 'node:http';
import { authenticateApiCall } from '../oauth1/flows/api-call';
import { collectParams, isFormContentType, type CollectedParams } from '../oauth1/params';
import { OAuthProblem } from '../oauth1/problems';
import { configuredRoot, requestParts, type ReceivedRequest } from '../http/request-parts';
import { SESSION_COOKIE } from '../http/web';
import { closeAfterAnswer } from '../http/close-after-answer';
import { gatewayBody, type BodyReader } from '../http/body';
import type { Wiring } from '../wiring';
import { Assertions } from './assertion';
import { headerPolicy, upstreamRequestHeaders } from './headers';
import { agentFor, forward, type ProxyOutcome } from './proxy';
import {
  matchRoute,
  nonCanonicalPath,
  upstreamTarget,
  withoutOAuthPairs,
  type GatewayRoute,
  type RouteMatch,
} from './routes';

/** The cookie Cloudflare Access signs browsers in with: never an upstream's business. */
const CLOUDFLARE_COOKIE = 'CF_Authorization';

const BUFFER = Symbol('read the body before verification');
const PARAMS = Symbol('the protocol parameters, collected once');
type Marked = IncomingMessage & { [BUFFER]?: boolean; [PARAMS]?: CollectedParams | undefined };

/**
 * Whether the body must be read before verification: a form body (its parameters are
 * signed), or a body covered by oauth_body_hash. The latter is decided from the protocol
 * parameters exactly as the verifier parses them (header and query, names and values
 * decoded), so no spelling of the name (`oauth%5Fbody%5Fhash`, `%6Fauth_body_hash`) can
 * skip the read. Those parameters are kept for the verifier (they are all there are
 * without a form body), so a call's Authorization header and query are parsed once.
 */
function markForBodyReader(req: Marked): void {
  if (isFormContentType(req.headers['content-type'])) {
    req[BUFFER] = true;
    req[PARAMS] = undefined;
    return;
  }
  const params = collectParams({
    method: req.method ?? '',
    origin: '',
    target: req.url ?? '/',
    authorization: req.headers.authorization,
  });
  req[BUFFER] = params.oauth.oauth_body_hash !== undefined;
  req[PARAMS] = params;
}

/**
 * One gateway, shared by both request paths: the Express router below (JWKS, and calls
 * under other spellings of the base path) and the fast path in front of Express
 * (src/http/front.ts), so both use one set of keep-alive agents and run the same steps.
 */
export interface Gateway {
  /** the route for a request target relative to the base path, or null */
  match(url: string): RouteMatch | null;
  /**
   * The checks made before anything is read (a non-canonical path, an upgrade: thrown as
   * OAuthProblem), and the request marked for the body reader.
   */
  admit(req: IncomingMessage, match: RouteMatch): void;
  /** reads the body when it must be read before verification (connect-style middleware) */
  readBody: BodyReader;
  /** verifies and forwards one call; resolves when the exchange is over */
  call(
    req: ReceivedRequest,
    res: ServerResponse,
    match: RouteMatch,
    ip: string | undefined,
    reqId: string | undefined,
  ): Promise<ProxyOutcome>;
  /** before a refused call is answered: close rather than read a large unread body */
  closeUnread(req: IncomingMessage, res: ServerResponse): void;
}

const gateways = new WeakMap<Wiring, Gateway | null>();

/** The gateway of these services (null without routes), made once. */
export function gatewayOf(s: Wiring): Gateway | null {
  let g = gateways.get(s);
  if (g === undefined) {
    g = createGateway(s);
    gateways.set(s, g);
  }
  return g;
}

function createGateway(s: Wiring): Gateway | null {
  const routes = s.config.gatewayRoutes;
  if (routes.length === 0) return null;
  if (!s.config.baseUrl) throw new Error('gateway routes need APPLINK_BASE_URL');
  const baseUrl = s.config.baseUrl;
  // One keep-alive agent per route, kept with the route itself.
  const agents = new WeakMap(routes.map((r) => [r, agentFor(r.upstream)]));
  const agentOf = (route: GatewayRoute): Agent => {
    let agent = agents.get(route);
    if (!agent) agents.set(route, (agent = agentFor(route.upstream)));
    return agent;
  };
  const owned = [SESSION_COOKIE, CLOUDFLARE_COOKIE, ...(s.config.sso ? [s.config.sso.cookie] : [])];
  const policy = headerPolicy(s.config.gatewayForwardHeaders, owned);
  const readBody = gatewayBody(s.config.gatewayBufferLimit, (req) => (req as Marked)[BUFFER] === true);
  // The issuer is the configured base URL (gateway routes require it), never a Host header.
  const issuer = configuredRoot({ baseUrl, basePath: s.config.basePath });
  const proto = baseUrl.protocol.slice(0, -1);
  const assertions = new Assertions();

  return {
    match: (url) => matchRoute(routes, url),
    admit(req, match) {
      const problem = nonCanonicalPath(match.rest);
      if (problem !== null) throw new OAuthProblem('parameter_rejected', { advice: problem });
      // Never tunnelled: a WebSocket (or any) upgrade is refused before verification, rather
      // than reaching the upstream as a plain request.
      if (req.headers.upgrade !== undefined) {
        throw new OAuthProblem('parameter_rejected', {
          advice: 'Protocol upgrades (WebSocket) are not supported through the gateway.',
        });
      }
      markForBodyReader(req);
    },
    readBody,
    async call(req, res, match, ip, reqId) {
      const parts = requestParts(req, s.config);
      const { token, consumer, params } = await authenticateApiCall(parts, ip ?? '', s, (req as Marked)[PARAMS]);

      let body: Buffer | null = Buffer.isBuffer(req.body) ? req.body : null;
      // Belt and braces: a hash the verifier checked must have been checked against the body
      // that is sent, never against an unread one.
      if (params.oauth.oauth_body_hash !== undefined && body === null) {
        throw new OAuthProblem('parameter_rejected', {
          advice: 'oauth_body_hash could not be checked against the body.',
          parametersRejected: ['oauth_body_hash'],
        });
      }

      const prefix = s.config.basePath + match.route.prefix;
      // The signing key from the key list the node re-reads every 30 s (no lookup per call),
      // and the grant's assertion for this route when one was signed moments ago.
      const key = s.gatewayKeys.signingKeyNow() ?? (await s.gatewayKeys.signingKey());
      const assertion = assertions.assertionFor(
        key,
        {
          issuer,
          audience: issuer + match.route.prefix,
          user: token.user,
          consumerKey: consumer.key,
          grantId: token.id,
        },
        s.clock.now(),
      );

      if (body && params.formEncoded) body = Buffer.from(withoutOAuthPairs(body.toString('latin1')), 'latin1');
      const upstream = match.route.upstream;
      const headers = upstreamRequestHeaders(
        req.headers,
        policy,
        upstream.host,
        { assertion, username: token.user.username, consumerKey: consumer.key },
        { clientIp: ip ?? req.socket.remoteAddress ?? '', proto, host: baseUrl.host, prefix },
        body === null ? null : body.length,
      );
      return forward(
        req,
        res,
        {
          upstream,
          target: upstreamTarget(match),
          method: req.method ?? 'GET',
          headers,
          body,
          timeoutMs: s.config.gatewayTimeout,
          agent: agentOf(match.route),
          owned: policy.owned,
          cookiePath: prefix,
        },
        s.logger,
        { reqId, route: match.route.prefix },
      );
    },
    closeUnread(req, res) {
      if (!req.complete && !res.headersSent) closeAfterAnswer(req, res);
    },
  };
}

export function gatewayRouter(s: Wiring): Router {
  const router = Router();
  const gateway = gatewayOf(s);
  if (!gateway) return router;

  router.get('/.well-known/jwks.json', async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').json(await s.gatewayKeys.jwks());
  });

  router.use(
    (req, res, next) => {
      const match = gateway.match(req.url);
      if (!match) {
        next('router');
        return;
      }
      gateway.admit(req, match);
      res.locals.gatewayMatch = match;
      // metrics and logs: one label per configured prefix, never the upstream path
      res.locals.routeLabel = `${match.route.prefix}/*`;
      next();
    },
    gateway.readBody as unknown as RequestHandler,
    async (req: Request, res: Response) => {
      await gateway.call(req, res, res.locals.gatewayMatch as RouteMatch, req.ip, res.locals.reqId as string);
    },
  );

  // A refused call may leave a large body unread: close instead of reading it all.
  const closeUnread: ErrorRequestHandler = (err, req, res, next) => {
    gateway.closeUnread(req, res);
    next(err);
  };
  router.use(closeUnread);
  return router;
}
