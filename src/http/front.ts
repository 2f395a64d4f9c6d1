/**
 * The server's request listener: a dispatch in front of Express.
 *
 * The signed API calls (GET, HEAD and POST on `<base path>/rest/api/1/myself`, spelled
 * exactly so) and the gateway's calls (under a route prefix after the base path, spelled
 * exactly so) are the product's hot paths and the only routes that run at volume; they
 * need nothing of Express. They go straight from node's request to the framework-free
 * core and back, which saves Express's router, request and response layers on every call.
 * Everything else (pages, forms, the protocol endpoints, other spellings of the API path)
 * goes to Express as before.
 *
 * Nothing is duplicated: both paths run the same request tracker (X-Request-Id, access
 * log, metrics; http/access.ts), the same client-address rule (Express's compiled
 * `trust proxy` function, through proxy-addr as Express itself uses it), the same body
 * reader and limits (http/body.ts), the same request-parts builder and the same handlers
 * (http/api-router.ts; for the gateway, the one Gateway of gateway/router.ts, which its
 * Express router uses too). A call that fails is handed to the Express app with its error,
 * where the one error handler (http/errors.ts) answers it: the problems, their headers and
 * bytes are the ones Express gives, by construction.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Express } from 'express';
import proxyaddr from 'proxy-addr';
import type { Wiring } from '../wiring';
import { signedBody } from './body';
import { getMyself, MYSELF_PATH, postMyself } from './api-router';
import { requestTracker, type RequestLocals, type Tracked } from './access';
import { FAST_PATH_FAILURE, forwardedAddressProblem } from './app';
import { gatewayOf, type Gateway } from '../gateway/router';
import type { RouteMatch } from '../gateway/routes';

export interface FrontOptions {
  /** false: every request goes to Express (for comparing both paths' answers) */
  fastPath?: boolean;
}

type Handler = (s: Wiring, req: IncomingMessage, res: ServerResponse, ip: string) => Promise<void>;

export function createRequestListener(s: Wiring, app: Express, options: FrontOptions = {}): RequestListener {
  if (options.fastPath === false) return app;
  const myself = s.config.basePath + MYSELF_PATH;
  const trust = app.get('trust proxy fn') as (addr: string, i: number) => boolean;
  const trustProxy = s.config.trustProxy;
  const body = signedBody();
  const track = requestTracker(s);

  // The request, with its error, to Express: its error handler answers it.
  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    (req as { [FAST_PATH_FAILURE]?: unknown })[FAST_PATH_FAILURE] = err ?? new Error('fast path failed');
    app(req as Parameters<Express>[0], res as Parameters<Express>[1]);
  };

  /**
   * The steps every fast-path call starts with, as Express's own layers would run them: the
   * request tracker, then the client address. The address, or null when the request was
   * already handed to Express (a forwarded address that is not one).
   */
  const begin = (req: IncomingMessage, res: ServerResponse, locals: RequestLocals): string | null => {
    (res as Tracked).locals = locals;
    track(req, res as Tracked);
    const ip = proxyaddr(req, trust);
    const problem = trustProxy ? forwardedAddressProblem(ip) : null;
    if (problem) {
      fail(req, res, problem);
      return null;
    }
    return ip;
  };

  const serve = (req: IncomingMessage, res: ServerResponse, handler: Handler): void => {
    const locals: RequestLocals = Object.create(null) as RequestLocals;
    locals.routeLabel = MYSELF_PATH;
    const ip = begin(req, res, locals);
    if (ip === null) return;
    body(req, res, (err) => {
      if (err !== undefined) return fail(req, res, err);
      handler(s, req, res, ip).catch((e: unknown) => fail(req, res, e));
    });
  };

  // Gateway calls: the same steps as the gateway's Express router, in the same order.
  const gateway = gatewayOf(s);
  const base = s.config.basePath;
  const serveGateway = (gw: Gateway, req: IncomingMessage, res: ServerResponse, match: RouteMatch): void => {
    const locals: RequestLocals = Object.create(null) as RequestLocals;
    // metrics and logs: one label per configured prefix, never the upstream path
    locals.routeLabel = `${match.route.prefix}/*`;
    locals.gatewayMatch = match;
    const ip = begin(req, res, locals);
    if (ip === null) return;
    const refuse = (err: unknown) => {
      gw.closeUnread(req, res);
      fail(req, res, err);
    };
    try {
      gw.admit(req, match);
    } catch (e) {
      return refuse(e);
    }
    gw.readBody(req, res, (err) => {
      if (err !== undefined && err !== null) return refuse(err);
      gw.call(req, res, match, ip, locals.reqId).catch(refuse);
    });
  };

  return (req, res) => {
    const url = req.url ?? '';
    if (url.startsWith(myself) && (url.length === myself.length || url.charCodeAt(myself.length) === 0x3f)) {
      const m = req.method;
      if (m === 'GET' || m === 'HEAD') return serve(req, res, getMyself);
      if (m === 'POST') return serve(req, res, postMyself);
    }
    if (gateway !== null && (base === '' || (url.startsWith(base) && url.charCodeAt(base.length) === 0x2f))) {
      const match = gateway.match(base === '' ? url : url.slice(base.length));
      if (match) return serveGateway(gateway, req, res, match);
    }
    app(req as Parameters<Express>[0], res as Parameters<Express>[1]);
  };
}
