// The applink command, run as a user runs it: the built bin in a child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { rsaKeys } from '../helpers/server';
import { must } from '../helpers/must';

const BIN = resolve(__dirname, '../../bin/applink.js');
let dir: string;
let dbFile: string;
let env: Record<string, string>;

function applink(args: string[], input?: string, extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env, ...extraEnv },
    input,
    encoding: 'utf8',
    cwd: dir,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const json = (args: string[], input?: string): unknown => {
  const r = applink([...args, '--json'], input);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
};

interface CreatedConsumer {
  consumerKey: string;
  consumerSecret: string | null;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'applink-cli-'));
  dbFile = join(dir, 'db.sqlite');
  env = {
    APPLINK_DATABASE_URL: `sqlite:${dbFile}`,
    APPLINK_SECRET_KEY_FILE: join(dir, 'secret.key'),
    APPLINK_LOG_LEVEL: 'silent',
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('applink CLI', () => {
  it('migrates and generates the key file with mode 0600', () => {
    const migrated = json(['migrate']) as { applied: string[]; upToDate: boolean };
    expect(migrated.applied).toContain('001_initial');
    expect(migrated.upToDate).toBe(true);
    expect(existsSync(join(dir, 'secret.key'))).toBe(true);
    expect(statSync(join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
  });

  it('creates, lists and disables users', () => {
    const u = json(
      [
        'user',
        'create',
        '--username',
        'alice',
        '--email',
        'Alice@Example.com',
        '--display-name',
        'Alice A',
        '--admin',
        '--password-stdin',
      ],
      'a long password\n',
    );
    expect(u).toMatchObject({
      username: 'alice',
      email: 'alice@example.com',
      displayName: 'Alice A',
      isAdmin: true,
      disabled: false,
    });
    const dup = applink(
      ['user', 'create', '--username', 'alice', '--email', 'x@example.com', '--password-stdin'],
      'another password\n',
    );
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/^applink: .*already exists\n$/);
    expect(
      applink(['user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password-stdin'], 'short\n')
        .code,
    ).toBe(1);
    json(
      ['user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password-stdin'],
      'bobs long password',
    );
    expect(json(['user', 'disable', '--username', 'bob'])).toMatchObject({ username: 'bob', disabled: true });
    const list = json(['user', 'list']) as Array<{ username: string; disabled: boolean }>;
    expect(list.map((x) => [x.username, x.disabled])).toEqual([
      ['alice', false],
      ['bob', true],
    ]);
    expect(applink(['user', 'list']).out).toMatch(/username\s+email/);
    expect(applink(['user', 'disable', '--username', 'nobody']).code).toBe(1);
  });

  it('creates consumers with a secret, with a public key, and without a secret', () => {
    const a = json([
      'consumer',
      'create',
      '--key',
      'wiki',
      '--name',
      'Wiki',
      '--callback',
      'https://wiki.example.com/cb',
    ]) as CreatedConsumer;
    expect(a.consumerKey).toBe('wiki');
    expect(a.consumerSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const pem = join(dir, 'pub.pem');
    writeFileSync(pem, rsaKeys.publicKey);
    expect(
      json(['consumer', 'create', '--key', 'jira', '--name', 'Jira', '--public-key-file', pem, '--no-secret']),
    ).toEqual({ consumerKey: 'jira', consumerSecret: null });
    const both = json([
      'consumer',
      'create',
      '--key',
      'ci',
      '--name',
      'CI',
      '--public-key-file',
      pem,
    ]) as CreatedConsumer;
    expect(both.consumerSecret).toBeTruthy();
    const text = applink(['consumer', 'create', '--key', 'plain', '--name', 'Plain']);
    expect(text.out).toMatch(/consumer key:\s+plain\nconsumer secret:\s+\S{43}/);

    writeFileSync(join(dir, 'bad.pem'), 'not a key');
    expect(
      applink(['consumer', 'create', '--key', 'bad', '--name', 'Bad', '--public-key-file', join(dir, 'bad.pem')]).err,
    ).toMatch(/public key/);
    expect(applink(['consumer', 'create', '--key', 'nokey', '--name', 'X', '--no-secret']).code).toBe(1);
    expect(
      applink(['consumer', 'create', '--key', 'cb', '--name', 'X', '--callback', 'javascript:alert(1)']).code,
    ).toBe(1);
    expect(applink(['consumer', 'create', '--key', 'wiki', '--name', 'Again']).err).toMatch(/already exists/);

    const list = json(['consumer', 'list']) as Array<{
      key: string;
      hasSecret: boolean;
      hasPublicKey: boolean;
      callbackUrl: string | null;
    }>;
    expect(list.map((c) => [c.key, c.hasSecret, c.hasPublicKey, c.callbackUrl])).toEqual([
      ['wiki', true, false, 'https://wiki.example.com/cb'],
      ['jira', false, true, null],
      ['ci', true, true, null],
      ['plain', true, false, null],
    ]);
    expect(JSON.stringify(list)).not.toContain(must(a.consumerSecret, "wiki's secret"));
  });

  it('lists and revokes tokens, and deletes consumers with their tokens', async () => {
    // a grant made directly in the database the CLI uses
    const { openDatabase } = await import('../../src/db');
    const { secretBoxFor } = await import('../../src/master-key');
    const { loadConfig } = await import('../../src/config');
    const box = secretBoxFor(loadConfig(env));
    const db = openDatabase({ client: 'sqlite', filename: dbFile }, { create: false });
    await db.migrate();
    const user = must(
      await db.knex('users').where({ username: 'alice' }).first<{ id: number } | undefined>(),
      "alice's row",
    );
    const consumer = must(
      await db.knex('consumers').where({ consumer_key: 'wiki' }).first<{ id: number } | undefined>(),
      "wiki's row",
    );
    for (const h of ['a'.repeat(64), 'b'.repeat(64)]) {
      await db.knex('access_tokens').insert({
        token_hash: h,
        consumer_id: consumer.id,
        user_id: user.id,
        secret_enc: box.seal('s'),
        created_at: Date.now(),
      });
    }
    await db.close();

    const tokens = json(['token', 'list', '--user', 'alice', '--consumer', 'wiki']) as Array<{ id: number }>;
    expect(tokens).toHaveLength(2);
    const first = must(tokens[0], 'the first token');
    expect(json(['token', 'list', '--consumer', 'jira'])).toEqual([]);
    expect(json(['token', 'revoke', '--id', String(first.id)])).toEqual({ revoked: first.id });
    expect(json(['token', 'list', '--user', 'alice'])).toHaveLength(1);
    expect(applink(['token', 'revoke', '--id', String(first.id)]).code).toBe(1);
    expect(applink(['token', 'revoke', '--id', 'abc']).code).toBe(1);

    expect(json(['consumer', 'delete', '--key', 'wiki'])).toEqual({ deleted: 'wiki' });
    expect(json(['token', 'list'])).toEqual([]);
    expect(applink(['consumer', 'delete', '--key', 'wiki']).code).toBe(1);
  });

  it('enables a user, sets a password from stdin, replaces a public key (each audited)', async () => {
    json(
      ['user', 'create', '--username', 'erin', '--email', 'erin@example.com', '--password-stdin'],
      'erins first password',
    );
    expect(json(['user', 'disable', '--username', 'erin'])).toMatchObject({ disabled: true });
    expect(json(['user', 'enable', '--username', 'erin'])).toMatchObject({ username: 'erin', disabled: false });
    expect(applink(['user', 'enable', '--username', 'nobody']).err).toMatch(/^applink: .*nobody\n$/);

    const set = applink(['user', 'set-password', '--username', 'erin', '--password-stdin'], 'erins second password\n');
    expect(set.code, set.err).toBe(0);
    expect(set.out).toBe('set the password of erin\n');
    expect(set.out + set.err).not.toContain('second password');
    expect(applink(['user', 'set-password', '--username', 'erin', '--password-stdin'], 'short\n').code).toBe(1);
    expect(applink(['user', 'set-password', '--username', 'erin', '--password-stdin'], '\n').code).toBe(1);

    const pemFile = join(dir, 'new.pem');
    writeFileSync(pemFile, rsaKeys.publicKey);
    json(['consumer', 'create', '--key', 'rotating', '--name', 'Rotating']);
    expect(json(['consumer', 'set-public-key', '--key', 'rotating', '--public-key-file', pemFile])).toEqual({
      consumerKey: 'rotating',
      publicKeyReplaced: true,
    });
    const weak = join(dir, 'weak.pem');
    const { generateKeyPairSync } = await import('node:crypto');
    writeFileSync(
      weak,
      generateKeyPairSync('rsa', {
        modulusLength: 1024,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      }).publicKey,
    );
    const refused = applink(['consumer', 'set-public-key', '--key', 'rotating', '--public-key-file', weak]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^applink: /);
    expect(
      applink(['consumer', 'set-public-key', '--key', 'rotating', '--public-key-file', join(dir, 'none.pem')]).err,
    ).toMatch(/cannot read/);

    const { openDatabase } = await import('../../src/db');
    const db = openDatabase({ client: 'sqlite', filename: dbFile }, { create: false });
    try {
      const events = (await db.knex('audit_events').select('event')).map((r: { event: string }) => r.event);
      expect(events).toEqual(
        expect.arrayContaining(['user.enabled', 'user.password_set', 'consumer.public_key_replaced']),
      );
      const row = must(
        await db.knex('users').where({ username: 'erin' }).first<{ password_hash: string | null } | undefined>(),
        "erin's row",
      );
      const { verifyPassword } = await import('../../src/secret-box');
      expect(await verifyPassword('erins second password', row.password_hash)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('reports bad configuration in one line naming the variable', () => {
    const r = applink(['user', 'list'], undefined, { APPLINK_TIMESTAMP_WINDOW: 'soon' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^applink: APPLINK_TIMESTAMP_WINDOW: .+\n$/);
  });
});

describe('npm start (dist/src/main.js)', () => {
  it('refuses a bad configuration with one line naming the variable', () => {
    const r = spawnSync(process.execPath, [resolve(__dirname, '../../dist/src/main.js')], {
      env: { ...process.env, ...env, APPLINK_PORT: 'http' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^applink: invalid configuration: APPLINK_PORT: .+\n$/);
  });
});
