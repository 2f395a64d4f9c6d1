/** Express request -> the framework-free RequestParts the protocol core takes. */
import type { Request } from 'express';
import type { Config } from '../config';
import type { RequestParts } from '../oauth1/params';
import { OAuthProblem } from '../oauth1/problems';

const HOST_SHAPE = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const first = (v: string | string[] | undefined): string | undefined =>
  (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim() || undefined;

/**
 * scheme://authority the consumer addressed: APPLINK_BASE_URL when set (what makes
 * signatures verify behind a proxy), else the request's own, honouring X-Forwarded-*
 * only with APPLINK_TRUST_PROXY.
 */
export function requestOrigin(req: Request, config: Pick<Config, 'baseUrl' | 'trustProxy' | 'host' | 'port'>): string {
  if (config.baseUrl) return config.baseUrl.origin;
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  let proto = tls ? 'https' : 'http';
  let host = req.headers.host;
  if (config.trustProxy) {
    const fp = first(req.headers['x-forwarded-proto'])?.toLowerCase();
    if (fp === 'http' || fp === 'https') proto = fp;
    host = first(req.headers['x-forwarded-host']) ?? host;
  }
  if (!host) host = `${config.host}:${config.port}`;
  if (!HOST_SHAPE.test(host)) throw new OAuthProblem('parameter_rejected', { advice: 'The Host header is not valid.' });
  return `${proto}://${host}`;
}

export function requestParts(req: Request, config: Config): RequestParts {
  return {
    method: req.method,
    origin: requestOrigin(req, config),
    target: req.originalUrl,
    authorization: req.headers.authorization,
    contentType: req.headers['content-type'],
    body: Buffer.isBuffer(req.body) ? req.body : undefined,
  };
}

/** The realm of WWW-Authenticate: the service's base URL. */
export function realmOf(req: Request, config: Config): string {
  if (config.baseUrl) return config.baseUrl.origin + config.basePath;
  try {
    return requestOrigin(req, config) + config.basePath;
  } catch {
    return `http://${config.host}:${config.port}${config.basePath}`;
  }
}
