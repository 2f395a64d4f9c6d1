/**
 * X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host under APPLINK_TRUST_PROXY.
 *
 * Each proxy in front of us appends what it saw (or sets the header when it is the only
 * one), so the entries a client wrote come first and the trusted proxies' entries last.
 * With N trusted hops, the value the outermost trusted proxy saw is the N-th entry from
 * the end; anything before it is client-written and never read. All three headers are
 * read the same way (the address by Express's `trust proxy` hop count, the scheme and host
 * here), and Express's own `req.protocol` / `req.hostname`, which would take the FIRST
 * entry, are redefined to use the same entry, so nothing in the app (cookies' Secure
 * flag, redirects) can read another one.
 */
import type { Express, Request } from 'express';

/** The entry `hops` from the end of a comma-separated, possibly repeated header, or undefined. */
export function trustedEntry(value: string | string[] | undefined, hops: number): string | undefined {
  if (value === undefined || hops < 1) return undefined;
  const entries = (Array.isArray(value) ? value.join(',') : value).split(',').map((e) => e.trim());
  // Fewer entries than trusted hops: the outermost proxy set the header alone (it does not
  // append); its entry is the first.
  return entries[Math.max(0, entries.length - hops)] || undefined;
}

/** The scheme the client used, as the trusted proxy saw it: 'http' or 'https', else undefined. */
export function forwardedProto(req: Pick<Request, 'headers'>, hops: number): 'http' | 'https' | undefined {
  const p = trustedEntry(req.headers['x-forwarded-proto'], hops)?.toLowerCase();
  return p === 'http' || p === 'https' ? p : undefined;
}

/** The host the client addressed, as the trusted proxy saw it. */
export function forwardedHost(req: Pick<Request, 'headers'>, hops: number): string | undefined {
  return trustedEntry(req.headers['x-forwarded-host'], hops);
}

/**
 * Express reads X-Forwarded-For with `trust proxy` = hop count (the same entry as above);
 * req.protocol and req.hostname are redefined on this app's request prototype so they read
 * the trusted entry of X-Forwarded-Proto / X-Forwarded-Host too.
 */
export function trustProxyHops(app: Express, hops: number): void {
  app.set('trust proxy', hops > 0 ? hops : false);
  if (hops < 1) return;
  const tls = (req: Request) => (req.socket as { encrypted?: boolean }).encrypted === true;
  Object.defineProperty(app.request, 'protocol', {
    configurable: true,
    enumerable: true,
    get(this: Request) {
      return forwardedProto(this, hops) ?? (tls(this) ? 'https' : 'http');
    },
  });
  Object.defineProperty(app.request, 'hostname', {
    configurable: true,
    enumerable: true,
    get(this: Request) {
      const host = forwardedHost(this, hops) ?? this.headers.host;
      if (!host) return undefined;
      // [v6]:port -> [v6]; host:port -> host
      const end = host.startsWith('[') ? host.indexOf(']') + 1 : 0;
      const colon = host.indexOf(':', end);
      return colon === -1 ? host : host.slice(0, colon);
    },
  });
}
