/** `npm start` / `applink serve`: serve with the configuration from the environment. */
import { loadConfig } from './config';
import { firstLine } from './error-message';
import { createLogger } from './logger';
import { startServer } from './server';
import { ServiceError } from './errors';

/** Any start-up failure as one line (the variable to fix when there is one), never a stack trace. */
export function oneLine(e: unknown): string {
  if (e instanceof ServiceError) return e.message;
  return firstLine(e).trim() || String(e);
}

function fail(prefix: string, e: unknown): never {
  process.stderr.write(`applink: ${prefix}${oneLine(e)}\n`);
  process.exit(1);
}

export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    fail('invalid configuration: ', e);
  }
  const logger = createLogger(config);
  // Until the server listens, anything thrown from anywhere (a driver's stray rejection
  // included) ends the start with one line.
  const early = (e: unknown) => fail('cannot start: ', e);
  process.on('uncaughtException', early);
  process.on('unhandledRejection', early);
  let running;
  try {
    running = await startServer(config, logger);
  } catch (e) {
    fail('cannot start: ', e);
  } finally {
    process.off('uncaughtException', early);
    process.off('unhandledRejection', early);
  }
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) void serve();
