/** Structured logs (pino). Known secret-bearing fields are redacted as a second line of defence. */
import pino, { type Logger } from 'pino';
import type { Config } from './config';

/**
 * Standard output, buffered: lines are written in blocks of about 4 KiB (and at least
 * every second, and on exit), not one write per line. Under load the per-request line
 * otherwise costs a write and a thread hand-off per request, a good part of a signed
 * call's budget. A hard kill can lose the last second of lines.
 */
export function bufferedStdout(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 1000 });
}

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: 'applink' },
      redact: {
        paths: [
          'password',
          'secret',
          'token',
          'verifier',
          'authorization',
          'cookie',
          '*.password',
          '*.secret',
          '*.token',
          '*.verifier',
          '*.authorization',
          '*.cookie',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? bufferedStdout(),
  );
}
