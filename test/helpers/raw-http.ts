// HTTP/1.1 over a bare socket, for requests fetch() refuses to send: malformed heads,
// repeated headers, raw bytes, absolute-form targets, lies about the body length.
import { connect } from 'node:net';
import { must } from './must';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** the body parsed as a form (the Problem Reporting fields) */
  params: Record<string, string>;
}

/** Sends `bytes` as they are and reads the answer until the server closes the connection. */
export function rawExchange(
  base: string,
  bytes: Buffer | string,
  opts: { timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no complete answer in time'));
    }, opts.timeoutMs ?? 10_000);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      if (raw.length === 0) {
        reject(new Error('connection closed without an answer'));
        return;
      }
      try {
        resolve(parseAnswer(raw));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // Done once a whole answer with a known length is in, even if the server keeps the
      // connection open (it may still be draining a body it refused).
      if (complete(Buffer.concat(chunks))) {
        socket.destroy();
        finish();
      }
    });
    socket.on('end', finish);
    // A server that answers before reading everything may reset the connection; what it
    // sent before that still counts.
    socket.on('error', () => finish());
    socket.write(bytes);
  });
}

function complete(raw: Buffer): boolean {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(raw.subarray(0, end).toString('latin1'));
  return m !== null && raw.length >= end + 4 + Number(m[1]);
}

function parseAnswer(raw: Buffer): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete answer: ${raw.toString('latin1').slice(0, 200)}`);
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(must(statusLine, 'the status line'))?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  const text = body.toString('utf8');
  const params = /x-www-form-urlencoded/.test(headers['content-type'] ?? '')
    ? Object.fromEntries(new URLSearchParams(text))
    : {};
  return { status, headers, body: text, params };
}

function unchunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', pos);
    if (eol === -1) break;
    const size = parseInt(b.subarray(pos, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * A request head (and body) as bytes. Host and `Connection: close` are added unless given;
 * Content-Length is set from the body unless a header list already has one or uses
 * Transfer-Encoding.
 */
export function rawRequest(
  base: string,
  method: string,
  target: string,
  headers: Array<[string, string]> = [],
  body?: Buffer | string,
): Buffer {
  const h = [...headers];
  const has = (n: string) => h.some(([k]) => k.toLowerCase() === n);
  if (!has('host')) h.unshift(['Host', new URL(base).host]);
  if (!has('connection')) h.push(['Connection', 'close']);
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  if (b && !has('content-length') && !has('transfer-encoding')) h.push(['Content-Length', String(b.length)]);
  const head = `${method} ${target} HTTP/1.1\r\n${h.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b ?? Buffer.alloc(0)]);
}
