/**
 * The one place a ServiceError (src/errors.ts) becomes an HTTP answer. Pages get
 * the error page with the code's status, unless the route said what to do instead
 * (onServiceError: re-show its form with the message, or flash and redirect); JSON routes
 * get `{ error, message, fields }` (for the 5xx codes, `config_invalid` and `unavailable`,
 * the page's words instead of the message). Called by the error handler (src/http/errors.ts).
 */
import type { Request, RequestHandler, Response } from 'express';
import { ServiceError, type ServiceErrorCode } from '../errors';

const HANDLER = Symbol('onServiceError');

type Handler = (err: ServiceError, req: Request, res: Response) => void | Promise<void>;
interface Registered {
  codes: readonly ServiceErrorCode[];
  handle: Handler;
}

/**
 * Route middleware: a ServiceError with one of `codes` thrown later in this route is
 * answered by `handle` (typically: re-render the form with `err.message` and
 * `err.httpStatus`). Other codes get the default answer.
 */
export function onServiceError(
  handle: Handler,
  codes: readonly ServiceErrorCode[] = ['invalid_input', 'conflict'],
): RequestHandler {
  return (_req, res, next) => {
    (res.locals as Record<symbol, Registered>)[HANDLER] = { codes, handle };
    next();
  };
}

/** Words for people, per code, on the error page. */
function pageFor(err: ServiceError): { title: string; message: string } {
  switch (err.code) {
    case 'not_found':
      return { title: 'Not found', message: 'There is no page at this address.' };
    case 'forbidden':
      return { title: 'Access denied', message: err.message };
    // the server's fault, not the request's: the detail is for the operator's log, not the page
    case 'config_invalid':
      return { title: 'Server error', message: 'Something went wrong on our side. Please try again.' };
    case 'unavailable':
      return {
        title: 'Temporarily unavailable',
        message: 'A service this depends on cannot be reached. Please try again shortly.',
      };
    case 'throttled':
      return { title: 'Too many attempts', message: err.message };
    case 'invalid_input':
    case 'conflict':
    case 'refused':
      return { title: 'The request could not be completed', message: err.message };
  }
}

/**
 * Answers `err`; `renderErrorPage` renders the error page with the layout's navigation
 * (the error handler's renderPage).
 */
export async function sendServiceError(
  err: ServiceError,
  req: Request,
  res: Response,
  page: boolean,
  renderErrorPage: (locals: { title: string; message: string }) => Promise<void>,
): Promise<void> {
  // A brake's refusal says when to come back, whoever answers it.
  const retryAfter = err.code === 'throttled' ? err.fields.retryAfter : undefined;
  if (retryAfter !== undefined) res.set('Retry-After', retryAfter);
  const registered = (res.locals as Record<symbol, Registered | undefined>)[HANDLER];
  if (page && registered?.codes.includes(err.code)) return registered.handle(err, req, res);
  res.status(err.httpStatus);
  if (page) return renderErrorPage(pageFor(err));
  // A 5xx is the server's fault: the code, and the page's words rather than the operator's detail.
  const body = err.httpStatus >= 500 ? { error: err.code, message: pageFor(err).message } : err.toJSON();
  res.set('Cache-Control', 'no-store').json(body);
}
