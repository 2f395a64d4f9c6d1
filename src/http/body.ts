/**
 * Request bodies, read by one reader with one rule: a body is read up to its limit and
 * no further. A declared Content-Length over the limit is refused before a byte is read;
 * a chunked (or compressed) body is cut the moment it passes the limit and answered 413 at
 * once with `Connection: close`, instead of being read off to its end first (what
 * body-parser does). Used by the protocol and API routes (the raw bytes: the signature and
 * oauth_body_hash need them exactly), by every form, and by the gateway (the bodies it must
 * read before verification, as sent: never decoded).
 */
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { isFormContentType } from '../oauth1/params';
import { closeAfterAnswer } from './close-after-answer';

/** A request as the readers see it (node's, or Express's, which extends it): the body lands in `body`. */
type BodyRequest = IncomingMessage & { body?: unknown };
/** Connect-style middleware over node's request and response (Express's extend them). */
export type BodyReader = (req: BodyRequest, res: ServerResponse, next: (err?: unknown) => void) => void;

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
const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;

/** The decoder for a Content-Encoding: null for none, undefined for one not accepted. */
function decoderFor(encoding: string, decode: boolean): Transform | null | undefined {
  if (encoding === '' || encoding === 'identity') return null;
  if (!decode) return undefined;
  switch (encoding) {
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
 * The body's bytes (decoded from gzip/deflate/br when `decode`; otherwise any encoding is
 * refused), at most `limit` of them, and at most `limit` bytes read off the wire. Past the
 * limit: rejects with a 413 error at once, stops reading and marks the response
 * `Connection: close`, so the rest is never read.
 */
function readLimitedBody(req: IncomingMessage, res: ServerResponse, limit: number, decode: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    const decoder = decoderFor(encoding, decode);
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
function declaredTooLarge(req: IncomingMessage, limit: number): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > limit;
}

function reading(limit: number, then: (req: BodyRequest, body: Buffer) => void, decode = true): BodyReader {
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
    readLimitedBody(req, res, limit, decode).then((body) => {
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
export function signedBody(limit = SIGNED_BODY_LIMIT): BodyReader {
  return reading(limit, (req, body) => {
    req.body = body;
  });
}

/**
 * The gateway's reader: the body of a call `mustRead` marks (a form, or one covered by
 * oauth_body_hash: read before verification), as sent, into req.body; any other body is
 * left unread, to be streamed to the upstream. A Content-Encoding is refused (415): the
 * signature and the body hash are over the bytes as sent, and the upstream gets those.
 */
export function gatewayBody(limit: number, mustRead: (req: IncomingMessage) => boolean): BodyReader {
  const read = reading(
    limit,
    (req, body) => {
      req.body = body;
    },
    false,
  );
  return (req, res, next) => {
    if (mustRead(req)) read(req, res, next);
    else next();
  };
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * A page's form (application/x-www-form-urlencoded, UTF-8): req.body holds each field as
 * a string, or an array when repeated. Any other type leaves an empty body (the CSRF check
 * then refuses the post), never read: the connection closes after the answer rather than
 * reading it off. Over FORM_PARAMETER_LIMIT fields: 413.
 */
export function formBody(limit = FORM_BODY_LIMIT): BodyReader {
  const read = reading(limit, (req, body) => {
    req.body = parseForm(body.toString('utf8'));
  });
  return (req, res, next) => {
    req.body = Object.create(null) as Record<string, unknown>;
    const type = req.headers['content-type'];
    if (!isFormContentType(type)) {
      if (hasBody(req)) closeAfterAnswer(req, res);
      next();
      return;
    }
    const charset = CHARSET.exec(type ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      if (hasBody(req)) closeAfterAnswer(req, res);
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
