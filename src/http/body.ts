/**
 * The raw body of protocol and API requests: read whole (the signature and oauth_body_hash
 * need the exact bytes), whatever the Content-Type, up to a limit.
 */
import express, { type RequestHandler } from 'express';

/** Largest body a protocol or API request may carry. */
export const SIGNED_BODY_LIMIT = 64 * 1024;

/**
 * A body that declares a larger Content-Length is refused at once (413, connection
 * closed) instead of being read off first, as body-parser would; a chunked body is cut
 * at the limit by body-parser itself.
 */
export function signedBody(limit = SIGNED_BODY_LIMIT): RequestHandler[] {
  const tooLarge = Object.freeze({ status: 413, type: 'entity.too.large', limit });
  const declared: RequestHandler = (req, res, next) => {
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > limit) {
      res.setHeader('Connection', 'close');
      next(Object.assign(new Error('request entity too large'), tooLarge));
      return;
    }
    next();
  };
  return [declared, express.raw({ type: () => true, limit })];
}
