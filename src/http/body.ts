/**
 * Request bodies, read by one reader with one rule: a body is read up to its limit and
 * no further. A declared Content-Length over the limit is refused before a byte is read;
 * a chunked (or compressed) body is cut the moment it passes the limit and answered 413 at
 * once with `Connection: close`, instead of being read off to its end first (what
 * body-parser does). Used by the protocol and API routes (the raw bytes: the signature and
 * oauth_body_hash need them exactly), by every form, and available to the gateway.
 */
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Request, RequestHandler, Response } from 'express';
import { closeAfterAnswer } from './close-after-answer';

/** Largest body a protocol or API request may carry. */
export const SIGNED_BODY_LIMIT = 64 * 1024;
/** Largest form a page may post. */
export const FORM_BODY_LIMIT = 64 * 1024;
/** Most fields a form may have. */
export const FORM_PARAMETER_LIMIT = 50;

type BodyError = Error & { status: number; type: string; limit?: number };
const bodyError = (status: number, type: string, message: string, limit?: number): BodyError =>
  Object.assign(new Error(message), { status, type, ...(limit !== undefined && { limit }) });

/** Whether the request has a body at all (RFC 9112 §6.3: Transfer-Encoding or Content-Length). */
export const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;

function decoderFor(encoding: string): Transform | null | undefined {
  switch (encoding) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/**
 * The body's bytes (decoded from gzip/deflate/br), at most `limit` of them, and at most
 * `limit` bytes read off the wire. Past the limit: rejects with a 413 error at once, stops
 * reading and marks the response `Connection: close`, so the rest is never read.
 */
export function readLimitedBody(req: Request, res: Response, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    const decoder = decoderFor(encoding);
    if (decoder === undefined) {
      closeAfterAnswer(req, res);
      return reject(bodyError(415, 'encoding.unsupported', `unsupported content encoding "${encoding}"`));
    }
    const chunks: Buffer[] = [];
    let wire = 0;
    let size = 0;
    let settled = false;
    const source = decoder ?? req;
    const cleanup = () => {
      req.off('data', onWire);
      req.off('aborted', onAborted);
      req.off('error', onError);
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
    };
    const fail = (e: BodyError) => {
      if (settled) return;
      settled = true;
      cleanup();
      // stop reading: the answer goes out now and the connection closes after it
      req.pause();
      closeAfterAnswer(req, res);
      reject(e);
    };
    const tooLarge = () => fail(bodyError(413, 'entity.too.large', 'request entity too large', limit));
    function onWire(c: Buffer) {
      wire += c.length;
      if (wire > limit) tooLarge();
    }
    function onData(c: Buffer) {
      if (settled) return;
      size += c.length;
      if (size > limit) {
        tooLarge();
        return;
      }
      chunks.push(c);
    }
    function onEnd() {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(Buffer.concat(chunks, size));
    }
    function onAborted() {
      fail(bodyError(400, 'request.aborted', 'request aborted'));
    }
    function onError(e: Error) {
      fail(bodyError(400, decoder ? 'encoding.invalid' : 'request.aborted', e.message));
    }
    if (decoder) {
      req.on('data', onWire);
      decoder.on('data', onData).on('end', onEnd).on('error', onError);
      req.pipe(decoder);
    } else {
      req.on('data', onData).on('end', onEnd);
    }
    req.on('aborted', onAborted).on('error', onError);
  });
}

/** A declared Content-Length over the limit is refused at once, before reading. */
function declaredTooLarge(req: Request, limit: number): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > limit;
}

function reading(limit: number, then: (req: Request, body: Buffer) => void): RequestHandler {
  return (req, res, next) => {
    if (!hasBody(req)) {
      next();
      return;
    }
    if (declaredTooLarge(req, limit)) {
      closeAfterAnswer(req, res);
      next(bodyError(413, 'entity.too.large', 'request entity too large', limit));
      return;
    }
    readLimitedBody(req, res, limit).then((body) => {
      try {
        then(req, body);
      } catch (e) {
        return next(e);
      }
      next();
    }, next);
  };
}

/** The raw body of protocol and API requests, whatever its Content-Type: req.body is a Buffer. */
export function signedBody(limit = SIGNED_BODY_LIMIT): RequestHandler[] {
  return [
    reading(limit, (req, body) => {
      req.body = body;
    }),
  ];
}

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * A page's form (application/x-www-form-urlencoded, UTF-8): req.body holds each field as
 * a string, or an array when repeated. Any other type leaves an empty body (the CSRF check
 * then refuses the post). Over FORM_PARAMETER_LIMIT fields: 413.
 */
export function formBody(limit = FORM_BODY_LIMIT): RequestHandler {
  const read = reading(limit, (req, body) => {
    req.body = parseForm(body.toString('utf8'));
  });
  return (req, res, next) => {
    req.body = Object.create(null) as Record<string, unknown>;
    const type = req.headers['content-type'] ?? '';
    if (!FORM_TYPE.test(type)) {
      next();
      return;
    }
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      next(bodyError(415, 'charset.unsupported', `unsupported charset "${charset}"`));
      return;
    }
    read(req, res, next);
  };
}

function parseForm(text: string): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  if (text === '') return out;
  if (text.split('&').length > FORM_PARAMETER_LIMIT) throw bodyError(413, 'parameters.too.many', 'too many parameters');
  for (const [k, v] of new URLSearchParams(text)) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}
