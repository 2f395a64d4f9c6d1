/** Structured logs (pino). Known secret-bearing fields are redacted as a second line of defence. */
import pino, { type Logger } from 'pino';
import type { Config } from './config';

/**
 * Standard output, buffered: lines are written in blocks of about 4 KiB (and at least
 * every second, and on exit), one write call per block instead of one per line. Under
 * load the per-request line otherwise costs a write system call per request, a good
 * part of a signed call's budget. A hard kill (SIGKILL) can lose the last second of lines.
 */
let stdout: ReturnType<typeof pino.destination> | undefined;

export function bufferedStdout(): pino.DestinationStream {
  if (stdout) return stdout;
  const dest = pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: 1000 });
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // nothing more can be done at exit
    }
  });
  return (stdout = dest);
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

/**
 * The per-request access log: the same output and level as `logger`, without the
 * redaction pass (its fields are fixed and hold no secrets: method, path without query,
 * status, duration, problem code), which is most of a log line's cost.
 */
export function accessLogger(logger: Logger): Logger {
  const stream = (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
  return pino({ level: logger.level, base: { service: 'applink' } }, stream);
}
