/** config -> database -> services -> app -> listen, with sweeping and graceful shutdown. */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Express } from 'express';
import type { Config } from './config';
import { configInvalid } from './errors';
import { errorMessage } from './error-message';
import { openInstallation } from './installation';
import { createLogger } from './logger';
import { createWiring, type Wiring } from './wiring';
import { createApp } from './http/app';
import { createRequestListener } from './http/front';
import { clientErrorResponse } from './http/errors';
import { serverRoot } from './http/request-parts';
import { sweep } from './db/sweep';

export interface RunningServer {
  server: Server;
  /** the Express app behind the fast path (http/front.ts) */
  app: Express;
  services: Wiring;
  url: string;
  /** Graceful: stop accepting, let in-flight requests finish (up to the shutdown timeout), close the database. */
  close(): Promise<void>;
}

/** The request line plus all headers; larger heads get 431 with oauth_problem. */
export const MAX_HEADER_SIZE = 16 * 1024;

export interface ServerOptions {
  /** how often this node sweeps stale rows (default 60 s; tests shorten it) */
  sweepIntervalMs?: number;
  /** false: no fast path, every request through Express (tests compare both paths) */
  fastPath?: boolean;
}

/** Where the operator opens /setup: the public base URL when set, else the listen address. */
export function setupUrlOf(config: Readonly<Config>, listenUrl: string): string {
  return `${serverRoot(config, listenUrl)}/setup`;
}

/** A failed listen as one line naming the variable to change. */
function listenError(e: NodeJS.ErrnoException, config: Readonly<Config>): Error {
  const at = `${config.host}:${config.port}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return configInvalid('APPLINK_PORT', `${at} is already in use (another applink, or another server)`);
    case 'EACCES':
      return configInvalid('APPLINK_PORT', `${at}: not permitted (ports below 1024 need privileges)`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return configInvalid('APPLINK_HOST', `${config.host} is not an address of this machine (${e.code})`);
    default:
      return e;
  }
}

export async function startServer(
  config: Readonly<Config>,
  logger: Logger = createLogger(config),
  options: ServerOptions = {},
): Promise<RunningServer> {
  // Creates the database and key on a first start; checks the key before writing anything.
  const { db, box, migrated } = await openInstallation(config, 'create', {
    warn: (message) => logger.warn({ message }, 'database warning'),
  });
  if (migrated.length > 0) logger.info({ migrations: migrated }, 'database migrated');
  const services = createWiring(config, db, box, logger);
  services.metrics.collectProcessMetrics();
  const app = createApp(services);
  // Fetch the proxy's keys now so the first sign-in is fast; failing here is not fatal
  // (sign-ins fail closed until the key set answers), but it is worth a warning.
  services.sso?.warm().catch((err: unknown) => {
    const cause = err instanceof Error ? err.cause : undefined;
    logger.warn(
      { err: { message: errorMessage(err), cause: cause === undefined ? undefined : errorMessage(cause) } },
      'sso key set unavailable',
    );
  });

  let draining = false;
  const inFlight = new Set<ServerResponse>();
  // The signed API calls take the fast path in front of Express (http/front.ts).
  const server = createServer(
    { maxHeaderSize: MAX_HEADER_SIZE },
    createRequestListener(services, app, { fastPath: options.fastPath }),
  );
  // Runs after the app's own listener has started on the request, before any await.
  server.on('request', (_req, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      // A keep-alive socket that just went idle during shutdown is closed at once.
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
  });

  // the public root; until the server listens (no request can arrive before), the configured address
  let realm = serverRoot(config);
  // Requests Node's parser refuses (oversized head, broken syntax) never reach Express:
  // answer them here, in the Problem Reporting format, and keep serving everyone else.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, raw } = clientErrorResponse(err, realm);
    services.metrics.observeRequest('-', 'client-error', status, 0, 'parameter_rejected');
    logger.info({ status, code: err.code, oauth_problem: 'parameter_rejected' }, 'refused malformed request');
    socket.end(raw);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await db.close();
    throw listenError(e as NodeJS.ErrnoException, config);
  }
  server.keepAliveTimeout = 65_000;
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  realm = serverRoot(config, url);

  // Every node sweeps (see db/sweep.ts for why that is safe); never two sweeps at once here.
  let sweeping: Promise<void> | undefined;
  const sweeper = setInterval(
    () => {
      sweeping ??= sweep(db, Date.now(), config.timestampWindow)
        .then(
          (r) => logger.debug({ swept: r }, 'sweep'),
          (err: unknown) => logger.warn({ err: { message: errorMessage(err) } }, 'sweep failed'),
        )
        .finally(() => (sweeping = undefined));
    },
    options.sweepIntervalMs ?? config.sweepInterval * 1000,
  );
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      app.set('draining', true);
      clearInterval(sweeper);
      const inFlightAtStart = inFlight.size;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Answers still to be written tell their clients not to reuse the connection.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      server.closeIdleConnections();
      const deadline = setTimeout(() => {
        logger.warn({ inFlight: inFlight.size }, 'shutdown timeout: closing the remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeout * 1000);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
      await sweeping;
      await services.failures.close();
      await db.close();
      logger.info({ inFlightAtStart }, 'stopped');
    })());

  logger.info({ url, database: config.database.client, baseUrl: config.baseUrl?.href ?? null }, 'applink listening');
  await services.firstRun.announce(setupUrlOf(config, url));
  return { server, app, services, url, close };
}
