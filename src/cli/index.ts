/**
 * The `applink` command: thin wrappers over the same services the server uses. Each
 * command parses its options with a schema, calls one service action as the operator,
 * and prints (a table, a line, or `--json`). Errors print one line, exit code 1.
 *
 *   index.ts      buildProgram() (the program, its help and version, the groups in order), main()
 *   context.ts    what each group gets: io, withServices (the installation opened per command)
 *   io.ts         printing: Io, table, iso
 *   options.ts    the option schemas' helpers: json, options(), wholeNumber()
 *   commands/     one register<Group>(program, context) per command group
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, VARIABLE_HELP } from '../config';
import { PROJECT_ROOT } from '../paths';
import { firstLine } from '../error-message';
import { ServiceError } from '../errors';
import { cliContext } from './context';
import { defaultIo, type Io } from './io';
import { registerServer } from './commands/server';
import { registerUsers } from './commands/users';
import { registerConsumers } from './commands/consumers';
import { registerTokens } from './commands/tokens';
import { registerKeys } from './commands/keys';
import { registerDb } from './commands/db';
import { registerGateway } from './commands/gateway';

const version = (): string =>
  (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const environmentHelp = (): string => {
  const width = Math.max(...CONFIG_VARIABLES.map((v) => v.length));
  return [
    '',
    'Environment (every command reads the same configuration as the server; see the README):',
    ...CONFIG_VARIABLES.map((v) => `  ${v.padEnd(width)}  ${VARIABLE_HELP[v] ?? ''}`),
  ].join('\n');
};

export function buildProgram(io: Io = defaultIo): Command {
  const program = new Command('applink')
    .description('applink: a self-hosted OAuth 1.0a provider for application links')
    .version(version(), '-v, --version', 'print the applink version')
    // usage errors like every other error: one line, `applink: …`, exit 1
    .configureOutput({
      outputError: (message, write) => write(`applink: ${message.replace(/^error: /, '').trimEnd()}; see --help\n`),
    })
    .addHelpText('after', environmentHelp)
    .exitOverride();
  const ctx = cliContext(program, io);
  // in this order on `applink --help`
  registerServer(program, ctx);
  registerUsers(program, ctx);
  registerConsumers(program, ctx);
  registerTokens(program, ctx);
  registerKeys(program, ctx);
  registerDb(program, ctx);
  registerGateway(program, ctx);
  return program;
}

/** Runs the CLI; returns the exit code. Errors print one line, never a stack trace. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    // The CLI's one place for errors: a ServiceError (any code: a refused action, bad
    // configuration, a refused copy or key repair) prints its message; anything else is unexpected.
    const msg = e instanceof ServiceError ? e.message : `unexpected error: ${firstLine(e)}`;
    process.stderr.write(`applink: ${msg}\n`);
    return 1;
  }
}
