/** Structured logs (pino). Known secret-bearing fields are redacted as a second line of defence. */
import pino, { type Logger } from 'pino';
import type { Config } from './config';

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
    destination,
  );
}
