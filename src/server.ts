/** config -> database -> services -> app -> listen, with sweeping and graceful shutdown. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config';
import { openDatabase } from './db';
import { assertKeyOpensDatabase, secretBoxFor } from './keys';
import { createLogger } from './logger';
import { createServices, type Services } from './services';
import { createApp } from './http/app';
import { sweep } from './db/sweep';

export interface RunningServer {
  server: Server;
  services: Services;
  url: string;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** how often this node sweeps stale rows (default 60 s; tests shorten it) */
  sweepIntervalMs?: number;
}

/** Where the operator opens /setup: the public base URL when set, else the listen address. */
export function setupUrlOf(config: Readonly<Config>, listenUrl: string): string {
  return config.baseUrl ? `${config.baseUrl.origin}${config.basePath}/setup` : `${listenUrl}${config.basePath}/setup`;
}

export async function startServer(
  config: Readonly<Config>,
  logger: Logger = createLogger(config),
  options: ServerOptions = {},
): Promise<RunningServer> {
  const box = secretBoxFor(config);
  const db = openDatabase(config.database);
  try {
    await db.migrate();
    await assertKeyOpensDatabase(box, db.knex);
  } catch (e) {
    await db.close();
    throw e;
  }
  const services = createServices(config, db, box, logger);
  const app = createApp(services);
  // Fetch the proxy's keys now so the first sign-in is fast; failing here is not fatal
  // (sign-ins fail closed until the key set answers), but it is worth a warning.
  services.sso?.warm().catch((err: Error) => {
    logger.warn(
      { err: { message: err.message, cause: (err.cause as Error | undefined)?.message } },
      'sso key set unavailable',
    );
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const srv = app.listen(config.port, config.host, () => resolve(srv));
    srv.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  // Every node sweeps (see db/sweep.ts for why that is safe); never two sweeps at once here.
  let sweeping: Promise<void> | undefined;
  const sweeper = setInterval(() => {
    sweeping ??= sweep(db, Date.now(), config.timestampWindow)
      .then(
        (r) => logger.debug({ swept: r }, 'sweep'),
        (err: Error) => logger.warn({ err: { message: err.message } }, 'sweep failed'),
      )
      .finally(() => (sweeping = undefined));
  }, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(sweeper);
      await sweeping;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await db.close();
    })());

  logger.info({ url, database: config.database.client, baseUrl: config.baseUrl?.href ?? null }, 'applink listening');
  await services.firstRun.announce(setupUrlOf(config, url));
  return { server, services, url, close };
}
