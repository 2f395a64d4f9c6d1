// Opening an installation, as operators get it wrong: through the real `applink` command
// and the real server process (dist/src/main.js). Only serve/migrate create a database or a
// key, and only where none exists; every command checks the key before it writes; a
// database an earlier wrong-key write left behind is repaired by documented commands; and
// every failure is one line naming the variable, with a non-zero exit.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BIN } from '../helpers/cli';
import { spawnServer, MAIN } from '../helpers/process';
import { signedFetch } from '../helpers/sign';
import { testDatabases } from '../helpers/server';
import { freshDatabase } from '../helpers/db';
import { PG_ADMIN_URL } from '../helpers/pg';
import { keyId, SecretBox } from '../../src/secret-box';
import { must } from '../helpers/must';
import { capture } from '../helpers/capture';

const KINDS = await testDatabases();
vi.setConfig({ testTimeout: 240_000 });
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'applink-install-'));
  dirs.push(d);
  return d;
};

interface Run {
  code: number | null;
  out: string;
  err: string;
}

// A few processes at a time: the machine has two cores.
let running = 0;
const waiting: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 3) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** `applink …` in its own process, with only PATH and the given environment, in `cwd`. */
function applink(env: Record<string, string>, args: string[], cwd = tmpdir()): Promise<Run> {
  return limited(() => spawnCli(env, args, cwd));
}

function spawnCli(env: Record<string, string>, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', APPLINK_LOG_LEVEL: 'silent', ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
    p.stdin.end('a long password\n');
  });
}

/** The server process until it exits (for starts that must fail). */
function serverExit(env: Record<string, string>, cwd = tmpdir()): Promise<Run> {
  return limited(() => spawnMain(env, cwd));
}

function spawnMain(env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN], {
      cwd,
      env: { PATH: process.env.PATH ?? '', APPLINK_PORT: '0', APPLINK_LOG_LEVEL: 'silent', ...env },
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** One line on stderr, `applink: …`, exit 1. */
function expectOneLine(r: Run, pattern: RegExp) {
  expect(r.code, r.err).toBe(1);
  expect(r.err).toMatch(/^applink: [^\n]+\n$/);
  expect(r.err).toMatch(pattern);
}

const key = () => randomBytes(32).toString('base64');

// Commands that open the database, each with what it needs to get that far.
const COMMANDS: string[][] = [
  ['user', 'list'],
  ['user', 'create', '--username', 'zed', '--email', 'zed@example.com', '--password-stdin'],
  ['user', 'disable', '--username', 'zed'],
  ['consumer', 'create', '--key', 'typo', '--name', 'Typo'],
  ['consumer', 'list'],
  ['consumer', 'delete', '--key', 'typo'],
  ['token', 'list'],
  ['token', 'revoke', '--id', '1'],
  ['keys', 'status'],
  ['keys', 'rotate'],
  ['keys', 'repair', '--forget-key', '0badc0de'],
  ['gateway', 'keys'],
  ['gateway', 'rotate-key'],
];

describe('typos create no state', () => {
  it('a mistyped SQLite path: every command but migrate refuses, naming APPLINK_DATABASE_URL, and creates nothing', async () => {
    const dir = tempDir();
    const env = {
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'no', 'such', 'applink.sqlite')}`,
      APPLINK_SECRET_KEY_FILE: join(dir, 'keys', 'secret.key'),
    };
    const runs = await Promise.all(COMMANDS.map(async (args) => ({ args, r: await applink(env, args) })));
    runs.forEach(({ args, r }) => {
      expect(r.err, args.join(' ')).toMatch(
        /^applink: APPLINK_DATABASE_URL: no database at \S+applink\.sqlite \(nor the folder \S+\): check the path/,
      );
      expectOneLine(r, /APPLINK_DATABASE_URL/);
    });
    expect(existsSync(join(dir, 'no'))).toBe(false);
    expect(existsSync(join(dir, 'keys'))).toBe(false);

    // migrate (like serve) creates the database and its key where none exists
    const migrated = await applink(env, ['migrate']);
    expect(migrated.code, migrated.err).toBe(0);
    expect(existsSync(join(dir, 'no', 'such', 'applink.sqlite'))).toBe(true);
    expect(statSync(join(dir, 'keys', 'secret.key')).mode & 0o777).toBe(0o600);
    expect((await applink(env, ['user', 'list'])).code).toBe(0);
  });

  it('a mistyped key file beside an existing database: refused naming APPLINK_SECRET_KEY_FILE, no key made, by serve and migrate too', async () => {
    const dir = tempDir();
    const env = {
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'applink.sqlite')}`,
      APPLINK_SECRET_KEY_FILE: join(dir, 'secret.key'),
    };
    expect((await applink(env, ['migrate'])).code).toBe(0);
    const typo = { ...env, APPLINK_SECRET_KEY_FILE: join(dir, 'secert.key') };
    const runs = await Promise.all([
      ...[['migrate'], ...COMMANDS].map((args) => applink(typo, args)),
      serverExit(typo),
    ]);
    for (const r of runs)
      expectOneLine(r, /APPLINK_SECRET_KEY_FILE: \S+secert\.key does not exist; the database \S+ exists/);
    expect(existsSync(join(dir, 'secert.key'))).toBe(false);
  });

  it('a file that is not a database, a folder, an empty file: one line naming APPLINK_DATABASE_URL', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'x'.repeat(4096));
    writeFileSync(join(dir, 'empty.sqlite'), '');
    mkdirSync(join(dir, 'folder.sqlite'));
    const withDb = (f: string) => ({ APPLINK_DATABASE_URL: `sqlite:${join(dir, f)}`, APPLINK_SECRET_KEY: key() });
    const [notDb, notDbServe, folder, folderServe, empty] = await Promise.all([
      applink(withDb('notes.txt'), ['user', 'list']),
      serverExit(withDb('notes.txt')),
      applink(withDb('folder.sqlite'), ['migrate']),
      serverExit(withDb('folder.sqlite')),
      applink(withDb('empty.sqlite'), ['user', 'list']),
    ]);
    expectOneLine(notDb, /APPLINK_DATABASE_URL: cannot open \S+notes\.txt: not an SQLite database/);
    expectOneLine(notDbServe, /^applink: cannot start: APPLINK_DATABASE_URL: cannot open \S+notes\.txt: not an SQLite/);
    expectOneLine(folder, /APPLINK_DATABASE_URL: \S+folder\.sqlite is a folder/);
    expectOneLine(folderServe, /APPLINK_DATABASE_URL: \S+folder\.sqlite is a folder/);
    expectOneLine(empty, /APPLINK_DATABASE_URL: \S+empty\.sqlite holds no applink tables/);
  });
});

describe.each(KINDS)('the key is checked before anything is written, on %s', (kind) => {
  it('a wrong key is refused by every command and the server, even before any secret is stored', async () => {
    const fresh = await freshDatabase(kind);
    try {
      const right = key();
      const env = { APPLINK_DATABASE_URL: fresh.url, APPLINK_SECRET_KEY: right };
      expect((await applink(env, ['migrate'])).code).toBe(0);
      const wrong = { ...env, APPLINK_SECRET_KEY: key() };
      const runs = await Promise.all([
        ...[['migrate'], ...COMMANDS.filter((c) => c[0] !== 'keys' || c[1] === 'rotate')].map((a) => applink(wrong, a)),
        serverExit(wrong),
      ]);
      for (const r of runs)
        expectOneLine(
          r,
          /APPLINK_SECRET_KEY: does not open the secrets stored in the database \(sealed under key \w{8}; this process has key \w{8}\)/,
        );
      // nothing was written
      const users = await applink(env, ['user', 'list', '--json']);
      expect(JSON.parse(users.out)).toEqual([]);
      expect(JSON.parse((await applink(env, ['consumer', 'list', '--json'])).out)).toEqual([]);

      // keys status still answers with the wrong key, and says what is missing
      const status = await applink(wrong, ['keys', 'status']);
      expect(status.code, status.err).toBe(0);
      expect(status.out).toContain(`${keyId(Buffer.from(right, 'base64'))} is not loaded`);

      // a key file that is not this installation's names APPLINK_SECRET_KEY_FILE
      const dir = tempDir();
      writeFileSync(join(dir, 'other.key'), key());
      const fromFile = { APPLINK_DATABASE_URL: fresh.url, APPLINK_SECRET_KEY_FILE: join(dir, 'other.key') };
      expectOneLine(await applink(fromFile, ['user', 'list']), /^applink: APPLINK_SECRET_KEY_FILE: does not open/);

      // the right key works
      const created = await applink(env, ['consumer', 'create', '--key', 'ok', '--name', 'OK']);
      expect(created.code, created.err).toBe(0);
    } finally {
      await fresh.cleanup();
    }
  });

  it('a database an earlier wrong-key write left behind: diagnosed, then mended by rotate with the old key, or by forgetting a lost key', async () => {
    const fresh = await freshDatabase(kind);
    let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
    try {
      const A = key();
      const env = { APPLINK_DATABASE_URL: fresh.url, APPLINK_SECRET_KEY: A };
      expect((await applink(env, ['migrate'])).code).toBe(0);
      const good = JSON.parse(
        (await applink(env, ['consumer', 'create', '--key', 'good', '--name', 'Good', '--json'])).out,
      ) as { consumerSecret: string };
      expect(
        (await applink(env, ['user', 'create', '--username', 'alice', '--email', 'a@example.com', '--password-stdin']))
          .code,
      ).toBe(0);

      // What applink before this check let a wrong key B do, on a database from before key
      // records existed: a consumer and a grant sealed under B.
      const B = key();
      const idB = keyId(Buffer.from(B, 'base64'));
      const boxB = new SecretBox(Buffer.from(B, 'base64'));
      const db = fresh.open();
      const badSecret = 'the secret the wrong-key command printed';
      const [bad] = await db
        .knex('consumers')
        .insert({ consumer_key: 'bad', name: 'Bad', secret_enc: boxB.seal(badSecret), created_at: Date.now() })
        .returning<Array<{ id: number }>>('id');
      const alice = await db.knex('users').where({ username: 'alice' }).first<{ id: number } | undefined>('id');
      await db.knex('access_tokens').insert({
        token_hash: 'c'.repeat(64),
        consumer_id: must(bad, 'the inserted consumer').id,
        user_id: must(alice, "alice's row").id,
        secret_enc: boxB.seal('token secret'),
        created_at: Date.now(),
      });
      await db.knex('master_keys').delete();
      await db.close();

      // the server and the commands refuse, in one line, pointing at keys status
      expectOneLine(
        await serverExit(env),
        new RegExp(`^applink: cannot start: APPLINK_SECRET_KEY: does not open .*key ${idB}.*keys status`),
      );
      expectOneLine(await applink(env, ['consumer', 'list']), /APPLINK_SECRET_KEY: does not open/);
      const status = await applink(env, ['keys', 'status', '--json']);
      expect(status.code, status.err).toBe(0);
      expect(JSON.parse(status.out)).toMatchObject({ missingKeyIds: [idB] });
      expect((await applink(env, ['keys', 'status'])).out).toContain(`applink keys repair --forget-key ${idB}`);

      // 1. B is still known: rotate with it as a previous key; afterwards A alone serves everything
      const rotated = await applink({ ...env, APPLINK_PREVIOUS_SECRET_KEYS: B }, ['keys', 'rotate', '--json']);
      expect(rotated.code, rotated.err).toBe(0);
      expect(JSON.parse(rotated.out)).toMatchObject({ rotated: 2 });
      server = await spawnServer({ ...env, APPLINK_PORT: '0', APPLINK_LOG_LEVEL: 'info' });
      const requestToken = (consumerKey: string, consumerSecret: string) =>
        signedFetch(`${must(server, 'the running server').url}/oauth/request-token`, {
          consumerKey,
          consumerSecret,
          method: 'POST',
          oauth: { oauth_callback: 'oob' },
        });
      expect((await requestToken('good', good.consumerSecret)).status).toBe(200);
      expect((await requestToken('bad', badSecret)).status).toBe(200);
      server.child.kill('SIGTERM');
      await server.exited;
      server = undefined;

      // 2. A key C is lost: a consumer and a grant sealed under it
      const C = key();
      const idC = keyId(Buffer.from(C, 'base64'));
      const db2 = fresh.open();
      const boxC = new SecretBox(Buffer.from(C, 'base64'));
      await db2
        .knex('consumers')
        .where({ consumer_key: 'bad' })
        .update({ secret_enc: boxC.seal(badSecret) });
      await db2.knex('access_tokens').update({ secret_enc: boxC.seal('token secret') });
      await db2.close();
      expectOneLine(await serverExit(env), new RegExp(`key ${idC}`));

      // repair refuses a key that is not the installation's, a loaded key, an unknown id
      expectOneLine(
        await applink({ ...env, APPLINK_SECRET_KEY: key() }, ['keys', 'repair', '--forget-key', idC]),
        /has sealed nothing in this database/,
      );
      expectOneLine(
        await applink({ ...env, APPLINK_PREVIOUS_SECRET_KEYS: C }, ['keys', 'repair', '--forget-key', idC]),
        /is loaded: nothing is lost/,
      );
      expectOneLine(await applink(env, ['keys', 'repair', '--forget-key', 'zz']), /8 hex digits/);

      const repaired = await applink(env, ['keys', 'repair', '--forget-key', idC]);
      expect(repaired.code, repaired.err).toBe(0);
      const newSecret = capture(/consumer bad: new secret (\S+)/, repaired.out, 'the new secret');
      expect(newSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(repaired.out).toContain('1 access tokens revoked');

      server = await spawnServer({ ...env, APPLINK_PORT: '0', APPLINK_LOG_LEVEL: 'info' });
      expect((await requestToken('bad', newSecret)).status).toBe(200);
      expect((await requestToken('bad', badSecret)).status).toBe(401);
      expect((await requestToken('good', good.consumerSecret)).status).toBe(200);
      const check = fresh.open();
      const token = must(
        await check.knex('access_tokens').first<{ revoked_at: number | null } | undefined>('revoked_at'),
        'the access token',
      );
      expect(token.revoked_at).not.toBeNull();
      const audit = must(
        await check
          .knex('audit_events')
          .where({ event: 'keys.forgotten' })
          .first<{ detail: string } | undefined>('detail'),
        'the keys.forgotten audit entry',
      );
      expect(JSON.parse(audit.detail)).toMatchObject({ keyId: idC, consumers: ['bad'], accessTokensRevoked: 1 });
      expect(JSON.stringify(audit)).not.toContain(newSecret);
      await check.close();
    } finally {
      if (server) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      await fresh.cleanup();
    }
  });
});

describe('one line for every failure', () => {
  it('PostgreSQL not reachable: every command and the server print one line and exit 1', async () => {
    const env = { APPLINK_DATABASE_URL: 'postgres://applink:hunter2@127.0.0.1:1/applink', APPLINK_SECRET_KEY: key() };
    const runs = await Promise.all([...[['migrate'], ...COMMANDS].map((a) => applink(env, a)), serverExit(env)]);
    for (const r of runs) {
      expectOneLine(
        r,
        /APPLINK_DATABASE_URL: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/applink: connect ECONNREFUSED/,
      );
      expect(r.err).not.toContain('hunter2');
    }
    const copy = await applink(env, [
      'db',
      'copy',
      '--from',
      `sqlite:${join(tempDir(), 'x.sqlite')}`,
      '--to',
      env.APPLINK_DATABASE_URL,
    ]);
    expectOneLine(copy, /no SQLite database/);
    const source = tempDir();
    const sqlite = { APPLINK_DATABASE_URL: `sqlite:${join(source, 'db.sqlite')}`, APPLINK_SECRET_KEY: key() };
    expect((await applink(sqlite, ['migrate'])).code).toBe(0);
    const unreachable = await applink(sqlite, [
      'db',
      'copy',
      '--from',
      sqlite.APPLINK_DATABASE_URL,
      '--to',
      env.APPLINK_DATABASE_URL,
    ]);
    expectOneLine(
      unreachable,
      /^applink: --to: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/applink: connect ECONNREFUSED/,
    );
    expect(unreachable.err).not.toContain('hunter2');
  });

  it('PostgreSQL without that database: one line', async () => {
    if (!KINDS.includes('pg')) return; // testDatabases() said so on stderr (and fails under CI=true)
    const url = new URL(PG_ADMIN_URL);
    url.pathname = '/applink_no_such_database';
    const env = { APPLINK_DATABASE_URL: url.toString(), APPLINK_SECRET_KEY: key() };
    const [cli, server] = await Promise.all([applink(env, ['user', 'list']), serverExit(env)]);
    expectOneLine(
      cli,
      /APPLINK_DATABASE_URL: cannot connect to PostgreSQL .*: database "applink_no_such_database" does not exist/,
    );
    expectOneLine(server, /^applink: cannot start: APPLINK_DATABASE_URL: cannot connect/);
  });

  it('a port in use: one line naming APPLINK_PORT', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((r) =>
      blocker.listen(0, '127.0.0.1', () => r((blocker.address() as { port: number }).port)),
    );
    try {
      const r = await serverExit({
        APPLINK_DATABASE_URL: `sqlite:${join(tempDir(), 'db.sqlite')}`,
        APPLINK_SECRET_KEY: key(),
        APPLINK_PORT: String(port),
      });
      expectOneLine(r, new RegExp(`^applink: cannot start: APPLINK_PORT: 127\\.0\\.0\\.1:${port} is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('an unreadable key file, a bad key file: one line naming APPLINK_SECRET_KEY_FILE', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'short.key'), 'c2hvcnQ=');
    mkdirSync(join(dir, 'folder.key'));
    const base = { APPLINK_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}` };
    const [short, folder] = await Promise.all([
      serverExit({ ...base, APPLINK_SECRET_KEY_FILE: join(dir, 'short.key') }),
      applink({ ...base, APPLINK_SECRET_KEY_FILE: join(dir, 'folder.key') }, ['migrate']),
    ]);
    expectOneLine(short, /APPLINK_SECRET_KEY_FILE: \S+short\.key does not hold a 32-byte base64 key/);
    expectOneLine(folder, /APPLINK_SECRET_KEY_FILE: cannot read \S+folder\.key \(EISDIR\)/);
  });
});
