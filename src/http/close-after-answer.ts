/**
 * Answering before the request's body has been read (413 at the limit, an unsupported
 * encoding, a gateway call refused or failed), then closing the connection.
 *
 * Node's server ends the socket after a `Connection: close` answer and destroys it as soon
 * as that end is written. Destroying a socket with unread bytes in its receive buffer makes
 * the kernel send a reset instead of a plain close, and a reset can reach the client before
 * it has read the answer: a client still uploading then sees "connection reset" instead of
 * the 413. So after such an answer the connection lingers (Apache's "lingering close"): the
 * client's further bytes are read and thrown away, within bounds, until the client closes
 * its side or the bounds run out, and only then is the socket destroyed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** How long, and how many more bytes, a closing connection reads and discards at most. */
export const LINGER = Object.freeze({ ms: 2_000, bytes: 1024 * 1024 });

const LINGERING = Symbol('lingers after its answer');
type Marked = ServerResponse & { [LINGERING]?: true };

export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  const marked = res as Marked;
  if (marked[LINGERING]) return;
  marked[LINGERING] = true;
  res.once('finish', () => {
    const socket = req.socket;
    // Nothing unread, or already gone: node's own close is a clean one.
    if (req.complete || socket.destroyed) return;
    // node's server has called socket.destroySoon(): end now, destroy once the end is
    // written. Keep the end, replace the destroy with a bounded drain.
    // (the listener is the socket's own destroy method, taken unbound: look it up as a value)
    const destroyOnFinish = Reflect.get(socket, 'destroy') as (...args: unknown[]) => void;
    socket.removeListener('finish', destroyOnFinish);
    let seen = 0;
    const close = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const timer = setTimeout(close, LINGER.ms);
    timer.unref();
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > LINGER.bytes) close();
    });
    socket.once('end', close);
    socket.once('close', () => clearTimeout(timer));
    // Flowing with no reader: what the parser still hands the request is discarded.
    req.resume();
  });
}
