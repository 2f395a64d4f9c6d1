// The gateway's yardstick: a bare Node reverse proxy (node:http only) in front of the same
// upstream. A keep-alive agent, the route prefix stripped, both directions streamed, the
// hop-by-hop headers dropped and the host replaced; no authentication, no identity, no
// logging.   node dist/bench/bare-proxy.js PORT PREFIX UPSTREAM_ORIGIN
import { Agent, createServer, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

function withoutHopByHop(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in h) if (!HOP_BY_HOP.has(name)) out[name] = h[name];
  return out;
}

export function startBareProxy(port: number, prefix: string, upstream: URL) {
  const agent = new Agent({ keepAlive: true, scheduling: 'lifo' });
  const host = upstream.host;
  const srv = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      res.end('ok');
      return;
    }
    if (
      !url.startsWith(prefix) ||
      (url.length > prefix.length && url[prefix.length] !== '/' && url[prefix.length] !== '?')
    ) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const headers = withoutHopByHop(req.headers);
    headers.host = host;
    const up = request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: url.slice(prefix.length) || '/',
        headers,
        agent,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, withoutHopByHop(upRes.headers));
        upRes.on('error', () => res.destroy());
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) {
        res.statusCode = 502;
        res.end();
      } else res.destroy();
    });
    req.pipe(up);
  });
  srv.keepAliveTimeout = 65_000;
  return new Promise<typeof srv>((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

if (require.main === module) {
  const [port, prefix, upstream] = process.argv.slice(2);
  if (prefix === undefined || upstream === undefined)
    throw new Error('usage: bare-proxy.js PORT PREFIX UPSTREAM_ORIGIN');
  void startBareProxy(Number(port ?? 0), prefix, new URL(upstream)).then((srv) => {
    process.stdout.write(`listening ${(srv.address() as AddressInfo).port}\n`);
    process.on('SIGTERM', () => srv.close(() => process.exit(0)));
  });
}
