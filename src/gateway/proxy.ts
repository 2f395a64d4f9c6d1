/**
 * Forwarding one verified call to its upstream with node:http, streamed both ways with
 * backpressure: the request body is piped (or, when it had to be read for verification,
 * replayed from memory), the response is piped back. Upstream failures become 502, silence
 * longer than the timeout 504, with no internal detail; once the response has started, a
 * failure can only cut the connection.
 */
import http, { type Agent, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { clientResponseHeaders, type OwnedCookies } from './headers';
import { closeAfterAnswer } from '../http/close-after-answer';

export interface UpstreamCall {
  upstream: URL;
  /** path and query to send, raw */
  target: string;
  method: string;
  headers: OutgoingHttpHeaders;
  /** the body already read for verification, or null to stream the client's request */
  body: Buffer | null;
  timeoutMs: number;
  agent: Agent;
  /** cookies the upstream may not set */
  owned: OwnedCookies;
  /** the route's public path: where the upstream's cookies are confined */
  cookiePath: string;
}

export type ProxyOutcome = 'ok' | 'bad_gateway' | 'timeout' | 'aborted';

export function agentFor(upstream: URL): Agent {
  return upstream.protocol === 'https:'
    ? new https.Agent({ keepAlive: true, scheduling: 'lifo' })
    : new http.Agent({ keepAlive: true, scheduling: 'lifo' });
}

/** Resolves once the exchange is over, however it ended; never rejects. */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  call: UpstreamCall,
  logger: Logger,
  logContext: Record<string, unknown>,
): Promise<ProxyOutcome> {
  // The client left while the call was being verified: nothing to forward.
  // (The request stream itself is destroyed once read: look at the connection.)
  if (res.destroyed || !res.socket || res.socket.destroyed) return Promise.resolve('aborted');
  return new Promise((resolve) => {
    let outcome: ProxyOutcome | null = null;
    const settle = (o: ProxyOutcome) => {
      if (outcome !== null) return;
      outcome = o;
      resolve(o);
    };
    const u = call.upstream;
    const upReq = (u.protocol === 'https:' ? https : http).request({
      protocol: u.protocol,
      hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
      port: u.port || undefined,
      path: call.target,
      method: call.method,
      headers: call.headers,
      agent: call.agent,
      timeout: call.timeoutMs,
    });

    // Silence past the timeout: the one error that follows is ours, and means 504.
    let timedOut = false;
    upReq.on('timeout', () => {
      timedOut = true;
      upReq.destroy(new Error('upstream timed out'));
    });

    upReq.on('error', (err) => {
      if (!res.headersSent && !res.destroyed) {
        logger.warn(
          { ...logContext, err: { code: (err as NodeJS.ErrnoException).code ?? err.name, timedOut } },
          'gateway: upstream failed',
        );
        const status = timedOut ? 504 : 502;
        // Whatever the client still sends is not wanted: close rather than read it.
        if (!req.complete) closeAfterAnswer(req, res);
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(timedOut ? 'Gateway timeout\n' : 'Bad gateway\n');
        settle(timedOut ? 'timeout' : 'bad_gateway');
      } else {
        // The response had begun: the only honest signal left is to cut it short.
        res.destroy();
        settle(outcome ?? 'aborted');
      }
    });

    upReq.on('response', (upRes) => {
      res.writeHead(
        upRes.statusCode ?? 502,
        upRes.statusMessage,
        clientResponseHeaders(upRes.headers, call.owned, call.cookiePath),
      );
      // pipe, not pipeline: the same backpressure, without pipeline's per-call AbortController
      // (whose abort() at the end of every exchange builds a DOMException with a stack).
      // An upstream response cut short cuts the client's too.
      const cut = () => {
        upReq.destroy();
        res.destroy();
        settle('aborted');
      };
      upRes.on('error', cut);
      upRes.on('close', () => {
        if (!upRes.complete) cut();
      });
      res.once('finish', () => settle('ok'));
      upRes.pipe(res);
    });

    // The client went away: stop the upstream exchange too.
    res.on('close', () => {
      if (!res.writableFinished) {
        upReq.destroy();
        settle('aborted');
      }
    });

    if (call.body !== null) {
      upReq.end(call.body);
    } else {
      // pipe, not pipeline: an upstream failure must not destroy the client's socket
      // before the 502 is written.
      req.on('error', () => upReq.destroy());
      req.on('aborted', () => upReq.destroy());
      req.pipe(upReq);
    }
  });
}
