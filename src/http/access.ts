/**
 * The one place a request is observed: an X-Request-Id, then at the end one structured
 * access-log line and the metrics (method, route label, status, latency, oauth_problem).
 * Used alike by the Express app (its first middleware) and by the fast path in front of
 * it (src/http/front.ts), so both log and count the same way.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Wiring } from '../wiring';
import { accessLogger } from '../logger';

/** What the tracker reads at the end of a request; Express's res.locals has this shape. */
export interface RequestLocals {
  reqId?: string;
  /** the route label a router set (the gateway: its prefix, the fast path: the route) */
  routeLabel?: string;
  oauthProblem?: string;
  [key: string]: unknown;
}

export type Tracked = ServerResponse & { locals: RequestLocals };

/**
 * Returns track(req, res): call it once, first thing, for every request. The route label
 * is res.locals.routeLabel or the Express route pattern, never the raw path; the path is
 * logged without its query (queries can carry tokens).
 */
export function requestTracker(s: Wiring): (req: IncomingMessage, res: Tracked) => void {
  const access = accessLogger(s.logger);
  return (req, res) => {
    const id = randomUUID();
    const url = req.url ?? '';
    res.locals.reqId = id;
    res.setHeader('X-Request-Id', id);
    const start = process.hrtime.bigint();
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = res.locals.routeLabel ?? (req as { route?: { path?: unknown } }).route?.path;
      const label = typeof route === 'string' ? route : 'unmatched';
      const problem = res.locals.oauthProblem;
      s.metrics.observeRequest(req.method ?? '-', label, res.statusCode, seconds, problem);
      access.info(
        {
          reqId: id,
          method: req.method,
          route: label,
          path: pathOf(url),
          status: res.statusCode,
          ms: Math.round(seconds * 1e6) / 1e3,
          oauth_problem: problem,
          ...(!res.writableFinished && { aborted: true }),
        },
        'request',
      );
    });
  };
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > 256 ? `${path.slice(0, 256)}…` : path;
}
