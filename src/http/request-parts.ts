/**
 * An HTTP request -> the framework-free RequestParts the protocol core takes. Works on
 * node's own IncomingMessage (the fast path, src/http/front.ts) and on Express's request
 * (which is one) alike.
 */
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config';
import type { RequestParts } from '../oauth1/params';
import { OAuthProblem } from '../oauth1/problems';
import { forwardedHost, forwardedProto } from './forwarded';

const HOST_SHAPE = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * scheme://authority the consumer addressed: APPLINK_BASE_URL when set (what makes
 * signatures verify behind a proxy), else the request's own, honouring X-Forwarded-*
 * only with APPLINK_TRUST_PROXY.
 */
export function requestOrigin(
  req: IncomingMessage,
  config: Pick<Config, 'baseUrl' | 'trustProxyHops' | 'host' | 'port'>,
): string {
  if (config.baseUrl) return config.baseUrl.origin;
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  let proto = tls ? 'https' : 'http';
  let host = req.headers.host;
  const hops = config.trustProxyHops;
  if (hops > 0) {
    // the trusted proxy's entries, never the client-written first ones (forwarded.ts)
    proto = forwardedProto(req, hops) ?? proto;
    host = forwardedHost(req, hops) ?? host;
  }
  if (!host) host = `${config.host}:${config.port}`;
  if (!HOST_SHAPE.test(host)) throw new OAuthProblem('parameter_rejected', { advice: 'The Host header is not valid.' });
  return `${proto}://${host}`;
}

// Node keeps the first of repeated Host, Authorization and Content-Type headers and drops
// the rest silently; a request that repeats one is ambiguous, so it is refused instead.
const SINGLE = new Set(['host', 'authorization', 'content-type']);

function refuseRepeatedHeaders(raw: readonly string[]): void {
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name === undefined || (name.length !== 4 && name.length !== 12 && name.length !== 13)) continue;
    const lower = name.toLowerCase();
    if (!SINGLE.has(lower)) continue;
    const bit = lower.length === 4 ? 1 : lower.length === 12 ? 2 : 4;
    if (seen & bit) {
      throw new OAuthProblem('parameter_rejected', { advice: `The ${name} header must be sent once.` });
    }
    seen |= bit;
  }
}

/**
 * A request as both paths hold it: `originalUrl` is Express's copy of the target as
 * received (node's `url` is rewritten while Express routes); `body` the raw body, when read.
 */
export type ReceivedRequest = IncomingMessage & { originalUrl?: string; body?: unknown };

export function requestParts(req: ReceivedRequest, config: Config): RequestParts {
  const target = req.originalUrl ?? req.url ?? '';
  // origin-form only: an absolute-form target (`POST http://host/path`) would put a whole
  // URL where the base string expects a path.
  if (target.charCodeAt(0) !== 0x2f) {
    throw new OAuthProblem('parameter_rejected', { advice: 'The request target must be a path.' });
  }
  refuseRepeatedHeaders(req.rawHeaders);
  return {
    // (always set on a request a server received; '' would only fail the signature)
    method: req.method ?? '',
    origin: requestOrigin(req, config),
    target,
    authorization: req.headers.authorization,
    contentType: req.headers['content-type'],
    body: Buffer.isBuffer(req.body) ? req.body : undefined,
  };
}

/*
 * The public root URL of the service, `https://host/base-path` (no trailing slash): every
 * absolute link the service prints (consumer endpoints, the setup URL, the realm, the
 * gateway's issuer) starts with it. These three functions are the only places it is built:
 * from APPLINK_BASE_URL when set, else from the request, else (no request at hand) from the
 * address the server listens on.
 */

/** The configured public root (APPLINK_BASE_URL's origin + the base path), or null without APPLINK_BASE_URL. */
export function configuredRoot(config: { baseUrl: URL; basePath: string }): string;
export function configuredRoot(config: Pick<Config, 'baseUrl' | 'basePath'>): string | null;
export function configuredRoot(config: Pick<Config, 'baseUrl' | 'basePath'>): string | null {
  return config.baseUrl ? config.baseUrl.origin + config.basePath : null;
}

/** The public root for a request: the configured one, else the origin the request addressed. */
export function publicRoot(
  config: Pick<Config, 'baseUrl' | 'basePath' | 'trustProxyHops' | 'host' | 'port'>,
  req: IncomingMessage,
): string {
  return configuredRoot(config) ?? requestOrigin(req, config) + config.basePath;
}

/**
 * The public root without a request (the setup URL printed at start, the realm of answers to
 * requests Node could not parse): the configured one, else `listenUrl` (the server's own
 * `http://address:port`, by default the configured host and port) + the base path.
 */
export function serverRoot(
  config: Pick<Config, 'baseUrl' | 'basePath' | 'host' | 'port'>,
  listenUrl = `http://${config.host}:${config.port}`,
): string {
  return configuredRoot(config) ?? listenUrl + config.basePath;
}

/** The realm of WWW-Authenticate: the service's public root. */
export function realmOf(req: IncomingMessage, config: Config): string {
  try {
    return publicRoot(config, req);
  } catch {
    // an unusable Host header
    return serverRoot(config);
  }
}
