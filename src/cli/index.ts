/**
 * The `applink` command: thin wrappers over the same services the server uses. Each
 * command parses its options with a schema, calls one service action as the operator,
 * and prints (a table, a line, or `--json`). Errors print one line, exit code 1.
 */
import { Command, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CONFIG_VARIABLES, loadConfig, parseDatabaseUrl, VARIABLE_HELP, type Config } from '../config';
import { openDatabase } from '../db';
import { describeDatabase, openInstallation, type OpenMode } from '../installation';
import { PROJECT_ROOT } from '../paths';
import { createLogger } from '../logger';
import { errorMessage } from '../error-message';
import type { Wiring } from '../wiring';
import { keyId } from '../secret-box';
import { copySqliteToPg } from '../db/copy';
import { DEFAULT_ACTIVATION_DELAY_MS } from '../gateway/signing-keys';
import { OPERATOR } from '../services/actor';
import { invalidInput, notFound, ServiceError } from '../services/errors';
import { consumerKeyField, idField, parseInput, usernameField } from '../services/fields';
import { grantFilterInput } from '../services/grants';

interface Io {
  out: (s: string) => void;
  readStdin: () => Promise<string>;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

/**
 * How each command opens the installation (src/installation.ts): only `migrate` (and
 * `serve`) may create a database or a key; listings check the key; `keys status` and
 * `keys repair` diagnose and mend an installation whose key check fails. Any other
 * command: 'write' (the key is checked before anything is written).
 */
const OPEN_MODES: Readonly<Record<string, OpenMode>> = {
  migrate: 'create',
  'user list': 'read',
  'consumer list': 'read',
  'token list': 'read',
  'gateway keys': 'read',
  'keys status': 'inspect',
  'keys repair': 'inspect',
};
let openMode: OpenMode = 'write';

const commandPath = (c: Command): string => {
  const names: string[] = [];
  for (let at = c; at.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
};

async function withServices<T>(fn: (s: Wiring) => Promise<T>): Promise<T> {
  const config: Config = loadConfig();
  const { db, box } = await openInstallation(config, openMode);
  try {
    // loaded here, not at the top: `--help`, `--version` and `keys generate` stay fast
    const { createWiring } = await import('../wiring');
    return await fn(createWiring(config, db, box, createLogger({ logLevel: 'silent' })));
  } finally {
    await db.close();
  }
}

/** A table cell: nothing for null, JSON for a structure, else the value's own text. */
const cell = (v: unknown): string =>
  v === null || v === undefined ? '' : typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : String(v);

function table(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]!);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

// ---- option schemas: what commander hands over, checked once ----------------------------

const json = { json: z.boolean().optional() };
const userCreateOptions = z.object({
  username: z.string(),
  email: z.string(),
  displayName: z.string().optional(),
  admin: z.boolean().optional(),
  passwordStdin: z.boolean().optional(),
  ...json,
});
const usernameOption = z.object({ username: usernameField, ...json });
const consumerCreateOptions = z.object({
  key: z.string(),
  name: z.string(),
  description: z.string().optional(),
  callback: z.string().optional(),
  publicKeyFile: z.string().optional(),
  secret: z.boolean(),
  ...json,
});
const consumerKeyOption = z.object({ key: consumerKeyField, ...json });
const setPasswordOptions = z.object({ username: usernameField, passwordStdin: z.literal(true), ...json });
const setPublicKeyOptions = z.object({ key: consumerKeyField, publicKeyFile: z.string(), ...json });

/** A PEM file's text; a file that cannot be read is invalid input naming it. */
function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw invalidInput(`cannot read ${file}`);
  }
}
const tokenListOptions = z.object({ user: z.string().optional(), consumer: z.string().optional(), ...json });
const tokenRevokeOptions = z.object({ id: idField, ...json });
const wholeNumber = (name: string, min: number, max: number) =>
  z.string().transform((v, ctx) => {
    const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) {
      ctx.issues.push({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}`, input: v });
      return z.NEVER;
    }
    return n;
  });
const rotateOptions = z.object({ batchSize: wholeNumber('--batch-size', 1, 1_000_000), ...json });
const gatewayRotateOptions = z.object({ activateIn: wholeNumber('--activate-in', 0, 86_400), ...json });

/** The CLI's options, parsed; a refusal is ServiceError('invalid_input') (one line, exit 1). */
const options = <S extends z.ZodType>(schema: S, o: unknown): z.output<S> => parseInput(schema, o);

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
  program.hook('preAction', (_program, action) => {
    openMode = OPEN_MODES[commandPath(action)] ?? 'write';
  });

  program
    .command('serve')
    .description('serve the HTTP API (same as npm start)')
    .action(async () => (await import('../main')).serve());

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
      const password = o.passwordStdin ? (await io.readStdin()).replace(/\r?\n$/, '') : undefined;
      if (o.passwordStdin && !password) throw invalidInput('the password read from standard input is empty');
      const config = loadConfig();
      const u = await withServices((s) =>
        s.users.create(OPERATOR, {
          username: o.username,
          email: o.email,
          displayName: o.displayName,
          password,
          isAdmin: !!o.admin,
        }),
      );
      // Without a password the user cannot use the sign-in form: say so, and whether SSO is there.
      const signIn = password
        ? ''
        : ` (no password: ${u.username} can sign in only through single sign-on` +
          `${config.sso ? '' : ', which is not configured (APPLINK_SSO_*)'})`;
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
      const password = (await io.readStdin()).replace(/\r?\n$/, '');
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

  const consumer = program.command('consumer').description('manage consumers (linked applications)');
  consumer
    .command('create')
    .description('register a consumer (an application that links to applink); prints its secret once')
    .requiredOption('--key <key>', 'the consumer key the application sends')
    .requiredOption('--name <name>', 'the name users see when they approve it')
    .option('--description <text>', 'a description shown with the name')
    .option('--callback <url>', 'registered callback: request-token callbacks must fall under it')
    .option('--public-key-file <pem>', 'RSA public key (or certificate) for RSA-SHA1/RSA-SHA256')
    .option('--no-secret', 'do not generate a shared secret (RSA only)')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(consumerCreateOptions, raw);
      let pem: string | undefined;
      if (o.publicKeyFile) {
        try {
          pem = readFileSync(o.publicKeyFile, 'utf8');
        } catch {
          throw invalidInput(`cannot read ${o.publicKeyFile}`);
        }
      }
      const r = await withServices((s) =>
        s.consumers.create(OPERATOR, {
          key: o.key,
          name: o.name,
          description: o.description,
          callbackUrl: o.callback,
          publicKeyPem: pem,
          withSecret: o.secret,
        }),
      );
      if (o.json) io.out(JSON.stringify({ consumerKey: r.consumer.key, consumerSecret: r.secret }));
      else
        io.out(
          `consumer key:    ${r.consumer.key}\nconsumer secret: ${r.secret ?? '(none: RSA only)'}${r.secret ? '\n(the secret is shown once; store it now)' : ''}`,
        );
    });
  consumer
    .command('list')
    .description('list every consumer')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const list = await withServices((s) => s.consumers.list());
      io.out(
        o.json
          ? JSON.stringify(list)
          : table(
              list.map((c) => ({
                key: c.key,
                name: c.name,
                callback: c.callbackUrl ?? '',
                secret: c.hasSecret ? 'yes' : '',
                rsa: c.hasPublicKey ? 'yes' : '',
                disabled: c.disabled ? 'yes' : '',
              })),
            ),
      );
    });
  consumer
    .command('regenerate-secret')
    .description('give the consumer a new shared secret (printed once); the old one stops working at once')
    .requiredOption('--key <key>', 'the consumer key')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(consumerKeyOption, raw);
      const r = await withServices((s) => s.consumers.regenerateSecret(OPERATOR, { key: o.key }));
      if (o.json) io.out(JSON.stringify({ consumerKey: r.consumer.key, consumerSecret: r.secret }));
      else
        io.out(
          `consumer key:    ${r.consumer.key}\nconsumer secret: ${r.secret}\n(the secret is shown once; store it now${r.replaced ? '. The previous secret no longer works' : ''})`,
        );
    });
  consumer
    .command('set-public-key')
    .description("replace a consumer's RSA public key (RSA, 2048 bits or more; audited)")
    .requiredOption('--key <key>', 'the consumer key')
    .requiredOption('--public-key-file <pem>', 'the new RSA public key (or certificate), PEM')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(setPublicKeyOptions, raw);
      const pem = readPem(o.publicKeyFile);
      const c = await withServices((s) => s.consumers.replacePublicKey(OPERATOR, { key: o.key }, pem));
      io.out(
        o.json
          ? JSON.stringify({ consumerKey: c.key, publicKeyReplaced: true })
          : `replaced the public key of ${c.key}`,
      );
    });
  consumer
    .command('delete')
    .description('delete a consumer and every token it holds')
    .requiredOption('--key <key>', 'the consumer key')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(consumerKeyOption, raw);
      const c = await withServices((s) => s.consumers.delete(OPERATOR, { key: o.key }));
      io.out(o.json ? JSON.stringify({ deleted: c.key }) : `deleted consumer ${c.key} and its tokens`);
    });

  const token = program.command('token').description('manage access tokens (grants)');
  token
    .command('list')
    .description('list the live access tokens (grants)')
    .option('--user <username>', "only this user's tokens")
    .option('--consumer <key>', "only this consumer's tokens")
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(tokenListOptions, raw);
      const filter = options(grantFilterInput, { username: o.user, consumerKey: o.consumer });
      const grants = await withServices((s) => s.grants.list(filter));
      io.out(
        o.json
          ? JSON.stringify(grants)
          : table(
              grants.map((g) => ({
                id: g.id,
                user: g.username,
                consumer: g.consumerKey,
                authorized: iso(g.createdAt),
                'last used': iso(g.lastUsedAt),
                expires: iso(g.expiresAt),
              })),
            ),
      );
    });
  token
    .command('revoke')
    .description('revoke an access token: it stops working at once')
    .requiredOption('--id <id>', 'the token id, as `applink token list` shows it')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(tokenRevokeOptions, raw);
      const done = await withServices((s) => s.grants.revoke(OPERATOR, { id: o.id }));
      if (!done) throw notFound(`no live token with id ${o.id}`);
      io.out(o.json ? JSON.stringify({ revoked: o.id }) : `revoked token ${o.id}`);
    });

  const keys = program.command('keys').description('the master key that encrypts secrets at rest');
  keys
    .command('generate')
    .description('print a new random master key (base64); nothing is stored')
    .option('--json', 'machine-readable output')
    .action((raw: unknown) => {
      const o = options(z.object(json), raw);
      const key = randomBytes(32);
      io.out(o.json ? JSON.stringify({ key: key.toString('base64'), keyId: keyId(key) }) : key.toString('base64'));
    });
  keys
    .command('status')
    .description('which keys seal the stored secrets, and what to do when one is missing (works with a wrong key)')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const r = await withServices((s) => s.keys.masterKeyStatus());
      const stale = r.columns.reduce(
        (n, c) => n + Object.entries(c.byKey).reduce((m, [id, k]) => m + (id === r.currentKeyId ? 0 : k), 0),
        0,
      );
      const missing = [...new Set([...r.recordedKeyIds, ...r.columns.flatMap((c) => Object.keys(c.byKey))])].filter(
        (id) => !r.loadedKeyIds.includes(id),
      );
      if (o.json) return io.out(JSON.stringify({ ...r, stale, missingKeyIds: missing }));
      const lines = [
        `current key: ${r.currentKeyId}`,
        `loaded keys: ${r.loadedKeyIds.join(', ')}`,
        `this installation's keys: ${r.recordedKeyIds.join(', ') || '(none recorded yet)'}`,
        table(
          r.columns.flatMap((c) =>
            Object.entries(c.byKey).map(([id, n]) => ({
              table: c.table,
              key: id === r.currentKeyId ? `${id} (current)` : r.loadedKeyIds.includes(id) ? id : `${id} (NOT LOADED)`,
              secrets: n,
            })),
          ),
        ),
      ];
      if (missing.length > 0)
        lines.push(
          `key ${missing.join(', ')} is not loaded: the server and every other command refuse to run.`,
          '- with the right key this installation was set up with, run again with APPLINK_SECRET_KEY set to it; or',
          '- if secrets were sealed under a wrong key that you still have: add it to APPLINK_PREVIOUS_SECRET_KEYS and run `applink keys rotate`; or',
          `- if that key is lost: \`applink keys repair --forget-key ${String(missing[0])}\` (new consumer secrets, revoked tokens; see the README)`,
        );
      else if (stale > 0)
        lines.push(`${stale} stored secrets are sealed under older keys: run \`applink keys rotate\``);
      else lines.push('every stored secret is sealed under the current key');
      io.out(lines.join('\n'));
    });
  keys
    .command('repair')
    .description('forget a lost master key: what it sealed gets new secrets or is revoked (run with the right key)')
    .requiredOption('--forget-key <id>', 'the lost key id, as `applink keys status` shows it')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object({ forgetKey: z.string(), ...json }), raw);
      const r = await withServices((s) => s.keys.forgetMasterKey(OPERATOR, { keyId: o.forgetKey }));
      if (o.json) return io.out(JSON.stringify(r));
      io.out(
        [
          `forgot key ${r.keyId}: ${r.accessTokensRevoked} access tokens revoked, ${r.requestTokensDeleted} request tokens and ${r.gatewayKeysDeleted} gateway keys deleted`,
          ...r.consumers.map((c) => `consumer ${c.key}: new secret ${c.secret}`),
          ...(r.consumers.length > 0 ? ['(the new secrets are shown once: give each to its application now)'] : []),
        ].join('\n'),
      );
    });
  keys
    .command('rotate')
    .description('re-encrypt every stored secret under the current key (servers may keep running)')
    .option('--batch-size <n>', 'rows per transaction', '200')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(rotateOptions, raw);
      const r = await withServices((s) => s.keys.rotateMasterKey(OPERATOR, { batchSize: o.batchSize }));
      io.out(
        o.json
          ? JSON.stringify(r)
          : `re-encrypted ${r.rotated} stored secrets under key ${r.currentKeyId}\n` +
              'once every server runs with this key as APPLINK_SECRET_KEY, the old key can leave APPLINK_PREVIOUS_SECRET_KEYS',
      );
    });

  const dbCommand = program.command('db').description('move the data between databases');
  dbCommand
    .command('copy')
    .description('copy an SQLite installation into an empty PostgreSQL database, every grant intact')
    .requiredOption('--from <url>', 'the SQLite database, sqlite:PATH')
    .requiredOption('--to <url>', 'the empty PostgreSQL database, postgres://…')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object({ from: z.string(), to: z.string(), ...json }), raw);
      const from = parseDatabaseUrl(o.from, '--from');
      const to = parseDatabaseUrl(o.to, '--to');
      if (from.client !== 'sqlite') throw invalidInput('--from must be an SQLite database (sqlite:PATH)');
      if (to.client !== 'pg') throw invalidInput('--to must be a PostgreSQL database (postgres://…)');
      if (!existsSync(from.filename)) throw invalidInput(`no SQLite database at ${from.filename}`);
      const source = openDatabase(from, { create: false });
      const target = openDatabase(to);
      let copied;
      try {
        await target.ping().catch((e: Error) => {
          throw invalidInput(`--to: cannot connect to ${describeDatabase(to)}: ${e.message.split('\n')[0]}`);
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
  const gateway = program.command('gateway').description("the gateway's assertion-signing keys");
  gateway
    .command('keys')
    .description('list the signing keys: next, signing, retired')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const keys = await withServices((s) => s.keys.listGatewayKeys());
      io.out(
        o.json
          ? JSON.stringify(keys)
          : table(
              keys.map((k) => ({
                kid: k.kid,
                state: k.state,
                created: iso(k.createdAt),
                'signs from': iso(k.activatesAt),
                superseded: iso(k.supersededAt),
              })),
            ),
      );
    });
  gateway
    .command('rotate-key')
    .description('publish a new signing key now; it signs after --activate-in seconds')
    .option(
      '--activate-in <seconds>',
      'delay before the new key signs (0 = at once)',
      String(DEFAULT_ACTIVATION_DELAY_MS / 1000),
    )
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(gatewayRotateOptions, raw);
      const k = await withServices((s) => s.keys.rotateGatewayKey(OPERATOR, { activateInMs: o.activateIn * 1000 }));
      io.out(
        o.json
          ? JSON.stringify(k)
          : `new gateway key ${k.kid}: published now, signs from ${iso(k.activatesAt)}; older keys stay published until their assertions have expired`,
      );
    });

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
    const msg = e instanceof ServiceError ? e.message : `unexpected error: ${errorMessage(e).split('\n')[0] ?? ''}`;
    process.stderr.write(`applink: ${msg}\n`);
    return 1;
  }
}
