/** `applink user …`: create, disable, enable, set a password, list. */
import type { Command } from 'commander';
import { z } from 'zod';
import { OPERATOR } from '../../services/actor';
import { invalidInput } from '../../errors';
import { usernameField } from '../../fields';
import type { CliContext } from '../context';
import { table, type Io } from '../io';
import { json, options } from '../options';

const userCreateOptions = z.object({
  username: z.string(),
  email: z.string(),
  displayName: z.string().optional(),
  admin: z.boolean().optional(),
  passwordStdin: z.boolean().optional(),
  ...json,
});
const usernameOption = z.object({ username: usernameField, ...json });
const setPasswordOptions = z.object({ username: usernameField, passwordStdin: z.literal(true), ...json });

/** A password read from standard input, without the one line end a terminal or `echo` adds. */
const readPassword = async (io: Io): Promise<string> => (await io.readStdin()).replace(/\r?\n$/, '');

export function registerUsers(program: Command, { io, withServices }: CliContext): void {
  const user = program.command('user').description('manage users: create, disable, list');
  user
    .command('create')
    .description('create a user (without --password-stdin: one who signs in only through single sign-on)')
    .requiredOption('--username <username>', 'the sign-in name')
    .requiredOption('--email <email>', 'the email address (single sign-on finds users by it)')
    .option('--display-name <name>', 'the name shown on pages (default: the username)')
    .option('--admin', 'make the user an administrator')
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(userCreateOptions, raw);
      const password = o.passwordStdin ? await readPassword(io) : undefined;
      if (o.passwordStdin && !password) throw invalidInput('the password read from standard input is empty');
      const { u, sso } = await withServices(async (s) => ({
        u: await s.users.create(OPERATOR, {
          username: o.username,
          email: o.email,
          displayName: o.displayName,
          password,
          isAdmin: !!o.admin,
        }),
        sso: s.config.sso !== null,
      }));
      // Without a password the user cannot use the sign-in form: say so, and whether SSO is there.
      const signIn = password
        ? ''
        : ` (no password: ${u.username} can sign in only through single sign-on` +
          `${sso ? '' : ', which is not configured (APPLINK_SSO_*)'})`;
      io.out(o.json ? JSON.stringify(u) : `created user ${u.username}${u.isAdmin ? ' (admin)' : ''}${signIn}`);
    });
  user
    .command('disable')
    .description('disable a user: their sessions and tokens stop working at once')
    .requiredOption('--username <username>', 'the user to disable')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(usernameOption, raw);
      const u = await withServices((s) => s.users.setDisabled(OPERATOR, { username: o.username }, true));
      io.out(o.json ? JSON.stringify(u) : `disabled user ${u.username}`);
    });
  user
    .command('enable')
    .description('enable a disabled user again (they can sign in, and their grants work again)')
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(usernameOption, raw);
      const u = await withServices((s) => s.users.setDisabled(OPERATOR, { username: o.username }, false));
      io.out(o.json ? JSON.stringify(u) : `enabled user ${u.username}`);
    });
  user
    .command('set-password')
    .description("set a user's password, read from standard input (audited, never printed)")
    .requiredOption('--username <username>', 'the user')
    .requiredOption('--password-stdin', 'read the new password from standard input')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(setPasswordOptions, raw);
      const password = await readPassword(io);
      if (!password) throw invalidInput('the password read from standard input is empty');
      const u = await withServices((s) => s.users.setPassword(OPERATOR, { username: o.username }, password));
      io.out(
        o.json ? JSON.stringify({ username: u.username, passwordSet: true }) : `set the password of ${u.username}`,
      );
    });
  user
    .command('list')
    .description('list every user')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const users = await withServices((s) => s.users.list());
      io.out(
        o.json
          ? JSON.stringify(users)
          : table(
              users.map((u) => ({
                id: u.id,
                username: u.username,
                email: u.email,
                name: u.displayName,
                admin: u.isAdmin ? 'yes' : '',
                disabled: u.disabled ? 'yes' : '',
              })),
            ),
      );
    });
}
