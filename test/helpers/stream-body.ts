// A client that keeps uploading until the server answers: how the tests see whether a body
// is cut at its limit (answered while the client is still sending) or read off to its end.
import { connect } from 'node:net';

export interface StreamOutcome {
  head: string;
  /** body bytes the client had sent when the answer began */
  sentBeforeAnswer: number;
  /** the client would have sent this many */
  planned: number;
}

export interface StreamOptions {
  /** the bytes to send (default: `size` bytes of 'a') */
  body?: Buffer;
  /** how many bytes of 'a' to send when no body is given (default 4 MiB) */
  size?: number;
  /** chunked (no length declared, the default), or a Content-Length declaring all of it */
  framing?: 'chunked' | 'length';
}

/** Streams a body in 8 KiB chunks, stopping when the answer arrives. */
export function streamUntilAnswered(
  base: string,
  path: string,
  headers: string[],
  { body, size = 4 * 1024 * 1024, framing = 'chunked' }: StreamOptions = {},
): Promise<StreamOutcome> {
  const planned = body?.length ?? size;
  const { hostname, port } = new URL(base);
  const chunked = framing === 'chunked';
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let sent = 0;
    let answered = -1;
    let received = '';
    const filler = Buffer.alloc(8192, 0x61);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; sent ${sent}`));
    }, 20_000);
    socket.on('error', () => undefined); // the server may reset while we write
    socket.on('data', (d: Buffer) => {
      if (answered < 0) answered = sent;
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ head: received.slice(0, received.indexOf('\r\n\r\n')), sentBeforeAnswer: answered, planned });
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!received) reject(new Error(`closed without an answer after ${sent} bytes`));
    });
    const framingHeader = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${planned}`;
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${framingHeader}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`,
    );
    const pump = () => {
      if (answered >= 0 || socket.destroyed) return;
      if (sent >= planned) {
        if (chunked) socket.write('0\r\n\r\n');
        return;
      }
      const chunk = body ? body.subarray(sent, sent + 8192) : filler;
      if (chunked) socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      if (chunked) socket.write('\r\n');
      sent += chunk.length;
      setTimeout(pump, 2);
    };
    pump();
  });
}
