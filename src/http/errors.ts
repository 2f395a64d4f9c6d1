/**
 * The one error handler. An OAuthProblem becomes the Problem Reporting response (status,
 * WWW-Authenticate, form body) on protocol and API routes, or an explanatory page on
 * browser routes; anything else is a generic 4xx/500 with no detail leaked.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, Response } from 'express';
import { OAuthProblem } from '../oauth1/problems';
import { formatForm, percentEncode } from '../oauth1/encoding';
import { realmOf } from './request-parts';
import { failureReport } from './failure-report';
import type { Wiring } from '../wiring';
import { ServiceError } from '../errors';
import { sendServiceError } from './service-errors';

/** Marks a router's responses as pages (HTML) rather than protocol answers. */
export const PAGE = Symbol('page');

/**
 * Longest `oauth_signature_base_string` value the WWW-Authenticate header carries, in
 * characters after encoding (the body always carries it whole). A base string grows with
 * every parameter of the request, and some clients refuse a response header over 8 KiB.
 */
export const HEADER_BASE_STRING_LIMIT = 4096;

/**
 * `WWW-Authenticate: OAuth realm="…", oauth_problem="…", …` with the same problem
 * parameters as the body (Atlassian consumers read only this header), each value
 * percent-encoded as RFC 5849 §3.5.1 encodes Authorization header values (§3.6).
 * Pure: the API, the gateway and the raw client-error answer all build it here.
 */
export function problemHeader(problem: OAuthProblem, realm: string): string {
  let out = `OAuth realm="${realm.replace(/["\\]/g, '\\$&')}"`;
  for (const [name, value] of problem.toParams()) {
    let encoded = percentEncode(value);
    if (name === 'oauth_signature_base_string' && encoded.length > HEADER_BASE_STRING_LIMIT) {
      encoded = cutEncoded(encoded, HEADER_BASE_STRING_LIMIT);
    }
    out += `, ${name}="${encoded}"`;
  }
  return out;
}

/** The form-encoded body of a problem report (the Problem Reporting extension's parameters). */
export function problemBody(problem: OAuthProblem): string {
  return formatForm(problem.toParams());
}

/** Cuts a percent-encoded string to at most `limit` characters without splitting a %XX. */
function cutEncoded(encoded: string, limit: number): string {
  let end = limit;
  const pct = encoded.lastIndexOf('%', end - 1);
  if (pct !== -1 && pct > end - 3) end = pct;
  return encoded.slice(0, end);
}

export function sendProblem(
  req: Request,
  res: Response,
  problem: OAuthProblem,
  services: Wiring,
  status: number = problem.status,
): void {
  res.locals.oauthProblem = problem.code;
  // Diagnostics for the admin console: memory only here, written out a second later.
  const failure = failureReport(req, problem, services.config, services.clock.now());
  if (failure) services.failures.record(failure);
  res
    .status(status)
    .set('WWW-Authenticate', problemHeader(problem, realmOf(req, services.config)))
    .set('Cache-Control', 'no-store')
    .type('application/x-www-form-urlencoded')
    .send(problemBody(problem));
}

interface HttpishError {
  status?: number;
  statusCode?: number;
  type?: string;
  code?: string;
  expose?: boolean;
}

/** The layout's locals for a page rendered here (who is signed in, for the navigation). */
export type PageChrome = (req: Request) => Promise<Record<string, unknown>>;

const noChrome: PageChrome = () => Promise.resolve({});

export function errorHandler(services: Wiring, chrome: PageChrome = noChrome): ErrorRequestHandler {
  const renderOrSend = (req: Request, res: Response, page: boolean, view: string, locals: PageText) =>
    renderPage(req, res, page, view, locals, chrome);
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const page = (res.locals as Record<symbol, boolean>)[PAGE] === true;
    if (err instanceof ServiceError)
      return void sendServiceError(err, req, res, page, (locals) =>
        renderOrSend(req, res, true, 'error', locals),
      ).catch(next);
    let problem: OAuthProblem | null = err instanceof OAuthProblem ? err : null;
    const e = (err ?? {}) as HttpishError;
    const status = e.status ?? e.statusCode ?? 500;

    // body-parser, path decoding and friends: malformed or oversized input is the client's
    // fault. The status says which (413 too large, 415 unsupported encoding, 400 unreadable).
    if (!problem && status >= 400 && status < 500 && e.code !== 'EBADCSRFTOKEN') {
      problem = new OAuthProblem('parameter_rejected', { advice: adviceForUnreadable(e) });
      if (!page) {
        sendProblem(req, res, problem, services, status);
        return;
      }
      res.locals.oauthProblem = problem.code;
      res.status(status);
      return renderOrSend(req, res, true, 'error', pageFor(problem));
    }

    if (e.code === 'EBADCSRFTOKEN' || (status === 403 && !problem)) {
      res.status(403);
      return renderOrSend(req, res, page, 'error', {
        title: 'Form expired',
        message: 'This form was not sent by this site or has expired. Go back, reload the page and try again.',
      });
    }

    if (problem) {
      if (!page) {
        sendProblem(req, res, problem, services);
        return;
      }
      res.locals.oauthProblem = problem.code;
      res.status(problem.code === 'permission_denied' ? 403 : 400);
      return renderOrSend(req, res, true, 'error', pageFor(problem));
    }

    services.logger.error({ err: describe(err), reqId: res.locals.reqId }, 'unhandled error');
    res.status(500);
    return renderOrSend(req, res, page, 'error', {
      title: 'Something went wrong',
      message: 'The server could not complete this request. Try again later.',
    });
  };
}

function adviceForUnreadable(e: HttpishError & { limit?: number }): string {
  switch (e.type) {
    case 'entity.too.large':
      return `The request body is larger than ${e.limit ? `${Math.round(e.limit / 1024)} KiB` : 'allowed'}.`;
    case 'parameters.too.many':
      return 'The form has too many fields.';
    case 'encoding.unsupported':
      return 'The Content-Encoding of the body is not supported.';
    case 'charset.unsupported':
      return 'The charset of the body is not supported.';
    case 'request.aborted':
      return 'The request body was cut short.';
    default:
      return 'The request could not be read.';
  }
}

/**
 * The raw HTTP answer to a request Node's parser refused before Express saw it: a head
 * over the size limit (431), an incomplete request past the timeout (408), or a
 * request that is not HTTP/1.1 (400). Always parameter_rejected; the connection closes.
 */
export function clientErrorResponse(err: NodeJS.ErrnoException, realm: string): { status: number; raw: string } {
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const advice =
    status === 431
      ? 'The request line and headers together are larger than 16 KiB.'
      : status === 408
        ? 'The request did not arrive in time.'
        : 'The request is not valid HTTP/1.1.';
  const problem = new OAuthProblem('parameter_rejected', { advice });
  const body = problemBody(problem);
  const raw =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    `WWW-Authenticate: ${problemHeader(problem, realm)}\r\n` +
    'Content-Type: application/x-www-form-urlencoded\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\nConnection: close\r\n\r\n' +
    body;
  return { status, raw };
}

type PageText = { title: string; message: string };

/**
 * A page keeps the signed-in navigation (chrome); anything else gets the message as text.
 * Should the chrome itself fail, the page is shown without it.
 */
export async function renderPage(
  req: Request,
  res: Response,
  page: boolean,
  view: string,
  locals: PageText,
  chrome: PageChrome,
): Promise<void> {
  if (!page) return void res.type('text/plain').send(locals.message);
  const around = await chrome(req).catch(() => ({}));
  res.render(view, { ...around, ...locals });
}

/** Words for people, by problem, for the browser pages. */
function pageFor(p: OAuthProblem): { title: string; message: string } {
  switch (p.code) {
    case 'token_expired':
      return {
        title: 'This request has expired',
        message: 'The application took too long. Go back to the application and start connecting again.',
      };
    case 'token_rejected':
    case 'parameter_absent':
      return {
        title: 'This link is not valid',
        message: `${p.advice} Go back to the application and start connecting again.`,
      };
    case 'consumer_key_rejected':
      return {
        title: 'This application has been disabled',
        message: 'An administrator has disabled this application link. Contact your administrator.',
      };
    case 'permission_denied':
      return { title: 'Access denied', message: p.advice };
    default:
      return { title: 'The request could not be completed', message: p.advice };
  }
}

// Log the error's kind and message, never request data (which may hold secrets).
function describe(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { type: err.name, message: err.message, stack: err.stack };
  return { type: typeof err };
}
