/** `npm start`: serve with the configuration from the environment. */
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { startServer } from './server';

export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`applink: invalid configuration: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const logger = createLogger(config);
  let running;
  try {
    running = await startServer(config, logger);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(
      `applink: cannot start: ${err instanceof ConfigError ? err.message : err.message.split('\n')[0]}\n`,
    );
    process.exit(1);
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
