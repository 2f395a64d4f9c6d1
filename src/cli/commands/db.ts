/** `applink db copy`: an SQLite installation into an empty PostgreSQL database. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseDatabaseUrl } from '../../config';
import { openDatabase } from '../../db';
import { copySqliteToPg } from '../../db/copy';
import { describeDatabase } from '../../installation';
import { firstLine } from '../../error-message';
import { invalidInput } from '../../errors';
import type { CliContext } from '../context';
import { table } from '../io';
import { json, options } from '../options';

const copyOptions = z.object({ from: z.string(), to: z.string(), ...json });

export function registerDb(program: Command, { io }: CliContext): void {
  const dbCommand = program.command('db').description('move the data between databases');
  dbCommand
    .command('copy')
    .description('copy an SQLite installation into an empty PostgreSQL database, every grant intact')
    .requiredOption('--from <url>', 'the SQLite database, sqlite:PATH')
    .requiredOption('--to <url>', 'the empty PostgreSQL database, postgres://…')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(copyOptions, raw);
      const from = parseDatabaseUrl(o.from, '--from');
      const to = parseDatabaseUrl(o.to, '--to');
      if (from.client !== 'sqlite') throw invalidInput('--from must be an SQLite database (sqlite:PATH)');
      if (to.client !== 'pg') throw invalidInput('--to must be a PostgreSQL database (postgres://…)');
      if (!existsSync(from.filename)) throw invalidInput(`no SQLite database at ${from.filename}`);
      const source = openDatabase(from, { create: false });
      const target = openDatabase(to);
      let copied;
      try {
        await target.ping().catch((e: unknown) => {
          throw invalidInput(`--to: cannot connect to ${describeDatabase(to)}: ${firstLine(e)}`);
        });
        copied = await copySqliteToPg(source, target);
      } finally {
        await Promise.all([source.close(), target.close()]);
      }
      if (o.json) io.out(JSON.stringify({ copied }));
      else
        io.out(
          `${table(copied.map((c) => ({ table: c.table, rows: c.rows })))}\n` +
            'copied; start the PostgreSQL nodes with the same APPLINK_SECRET_KEY as this installation',
        );
    });
}
