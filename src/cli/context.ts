/**
 * What every command group gets: where to print, and the services over the installation,
 * opened the way the running command may open it.
 */
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config';
import { openInstallation, type OpenMode } from '../installation';
import { createLogger } from '../logger';
import type { Wiring } from '../wiring';
import type { Io } from './io';

export interface CliContext {
  io: Io;
  /** loads the configuration, opens the installation, runs fn over the services, closes */
  withServices: <T>(fn: (s: Wiring) => Promise<T>) => Promise<T>;
}

/**
 * How each command that goes through withServices opens the installation
 * (src/installation.ts): listings check the key; `keys status` and `keys repair` diagnose
 * and mend an installation whose key check fails. Any other command: 'write' (the key is
 * checked before anything is written). `migrate` and `serve`, the only ones that may create
 * a database or a key, open the installation themselves (commands/server.ts, src/server.ts).
 */
const OPEN_MODES: Readonly<Record<string, OpenMode>> = {
  'user list': 'read',
  'consumer list': 'read',
  'token list': 'read',
  'gateway keys': 'read',
  'keys status': 'inspect',
  'keys repair': 'inspect',
};

const commandPath = (c: Command): string => {
  const names: string[] = [];
  for (let at = c; at.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
};

/** The context of one program: the command about to run sets how the installation opens. */
export function cliContext(program: Command, io: Io): CliContext {
  let openMode: OpenMode = 'write';
  program.hook('preAction', (_program, action) => {
    openMode = OPEN_MODES[commandPath(action)] ?? 'write';
  });
  return {
    io,
    withServices: async (fn) => {
      const config: Config = loadConfig();
      const { db, box } = await openInstallation(config, openMode);
      try {
        // loaded here, not at the top: `--help`, `--version` and `keys generate` stay fast
        const { createWiring } = await import('../wiring');
        return await fn(createWiring(config, db, box, createLogger({ logLevel: 'silent' })));
      } finally {
        await db.close();
      }
    },
  };
}
