/** config -> database -> services -> app -> listen, with sweeping and graceful shutdown. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config';
import { openDatabase } from './db';
import { secretBoxFor } from './keys';
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

export async function startServer(
  config: Readonly<Config>,
  logger: Logger = createLogger(config),
): Promise<RunningServer> {
  const box = secretBoxFor(config);
  const db = openDatabase(config.database);
  await db.migrate();
  const services = createServices(config, db, box, logger);
  const app = createApp(services);

  const server = await new Promise<Server>((resolve, reject) => {
    const srv = app.listen(config.port, config.host, () => resolve(srv));
    srv.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  const sweeper = setInterval(() => {
    sweep(db.knex, Date.now(), config.timestampWindow).then(
      (r) => logger.debug({ swept: r }, 'sweep'),
      (err: Error) => logger.warn({ err: { message: err.message } }, 'sweep failed'),
    );
  }, config.sweepInterval * 1000);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(sweeper);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await db.close();
    })());

  logger.info({ url, database: config.database.client, baseUrl: config.baseUrl?.href ?? null }, 'applink listening');
  return { server, services, url, close };
}
