// The physical ceiling: raw node:http (no framework, no OAuth work) answering the same
// requests as bare Express with the same bytes: the JSON of /rest/api/1/myself (GET and the
// form POST) with the same headers. What a Node service on this machine cannot beat.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const me = { username: 'bench', email: 'bench@example.com', displayName: 'Bench User' };

function json(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export function bareNodeHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/healthz' && req.method === 'GET') return json(res, { status: 'ok' });
  if (path === '/rest/api/1/myself') {
    if (req.method === 'GET') return json(res, me);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        json(res, { ...me, displayName: form.get('displayName') });
      });
      return;
    }
  }
  res.statusCode = 404;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end('Not found');
}

if (require.main === module) {
  const srv = createServer(bareNodeHandler);
  srv.keepAliveTimeout = 65_000;
  srv.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    process.stdout.write(`listening ${(srv.address() as AddressInfo).port}\n`);
  });
  process.on('SIGTERM', () => srv.close(() => process.exit(0)));
}
