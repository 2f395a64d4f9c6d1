/** `applink serve` and `applink migrate`: the server, and its database schema. */
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../../config';
import { openInstallation } from '../../installation';
import type { CliContext } from '../context';
import { json, options } from '../options';

export function registerServer(program: Command, { io }: CliContext): void {
  program
    .command('serve')
    .description('serve the HTTP API (same as npm start)')
    .action(async () => (await import('../../main')).serve());

  program
    .command('migrate')
    .description('bring the database schema up to date')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const { db, migrated } = await openInstallation(loadConfig(), 'create');
      await db.close();
      // the same facts either way: what was applied, and that the schema is now current
      io.out(
        o.json
          ? JSON.stringify({ applied: migrated, upToDate: true })
          : migrated.length > 0
            ? `applied ${migrated.length} migrations (${migrated.join(', ')}): the database is up to date`
            : 'nothing to apply: the database is up to date',
      );
    });
}
