/**
 * The one error handler. An OAuthProblem becomes the Problem Reporting response (status,
 * WWW-Authenticate, form body) on protocol and API routes, or an explanatory page on
 * browser routes; anything else is a generic 4xx/500 with no detail leaked.
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import { OAuthProblem } from '../oauth1/problems';
import { formatForm } from '../oauth1/encoding';
import { realmOf } from './request-parts';
import type { Services } from '../services';

/** Marks a router's responses as pages (HTML) rather than protocol answers. */
export const PAGE = Symbol('page');

export function sendProblem(
  req: Request,
  res: Response,
  problem: OAuthProblem,
  services: Services,
  status: number = problem.status,
): void {
  res.locals.oauthProblem = problem.code;
  res
    .status(status)
    .set('WWW-Authenticate', `OAuth realm="${realmOf(req, services.config)}", oauth_problem="${problem.code}"`)
    .set('Cache-Control', 'no-store')
    .type('application/x-www-form-urlencoded')
    .send(formatForm(problem.toParams()));
}

interface HttpishError {
  status?: number;
  statusCode?: number;
  type?: string;
  code?: string;
  expose?: boolean;
}

export function errorHandler(services: Services): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const page = (res.locals as Record<symbol, boolean>)[PAGE] === true;
    let problem: OAuthProblem | null = err instanceof OAuthProblem ? err : null;
    const e = (err ?? {}) as HttpishError;
    const status = e.status ?? e.statusCode ?? 500;

    // body-parser and friends: malformed or oversized input is the client's fault.
    if (!problem && status >= 400 && status < 500 && e.code !== 'EBADCSRFTOKEN') {
      problem = new OAuthProblem('parameter_rejected', {
        advice: e.type === 'entity.too.large' ? 'The request body is too large.' : 'The request could not be read.',
      });
      if (!page) {
        // 413 for an oversized body (set before sending: afterwards it would be lost)
        return sendProblem(req, res, problem, services, status === 413 ? 413 : problem.status);
      }
    }

    if (e.code === 'EBADCSRFTOKEN' || (status === 403 && !problem)) {
      res.status(403);
      return renderOrSend(res, page, 'error', {
        title: 'Form expired',
        message: 'This form was not sent by this site or has expired. Go back, reload the page and try again.',
      });
    }

    if (problem) {
      if (!page) return sendProblem(req, res, problem, services);
      res.locals.oauthProblem = problem.code;
      res.status(problem.code === 'permission_denied' ? 403 : 400);
      return renderOrSend(res, true, 'error', pageFor(problem));
    }

    services.logger.error({ err: describe(err), reqId: res.locals.reqId }, 'unhandled error');
    res.status(500);
    return renderOrSend(res, page, 'error', {
      title: 'Something went wrong',
      message: 'The server could not complete this request. Try again later.',
    });
  };
}

function renderOrSend(res: Response, page: boolean, view: string, locals: { title: string; message: string }): void {
  if (page) return res.render(view, locals);
  res.type('text/plain').send(locals.message);
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
