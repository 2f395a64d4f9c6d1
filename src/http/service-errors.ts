/**
 * The one place a ServiceError (src/services/errors.ts) becomes an HTTP answer. Pages get
 * the error page with the code's status, unless the route said what to do instead
 * (onServiceError: re-show its form with the message, or flash and redirect); JSON routes
 * get `{ error, message, fields }`. Called by the error handler (src/http/errors.ts).
 */
import type { Request, RequestHandler, Response } from 'express';
import { ServiceError, type ServiceErrorCode } from '../services/errors';

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
    default:
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
  const registered = (res.locals as Record<symbol, Registered | undefined>)[HANDLER];
  if (page && registered?.codes.includes(err.code)) return registered.handle(err, req, res);
  res.status(err.httpStatus);
  if (page) return renderErrorPage(pageFor(err));
  res.set('Cache-Control', 'no-store').json(err.toJSON());
}
