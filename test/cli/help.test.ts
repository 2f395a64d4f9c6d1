// The command line explains itself: every command and option has help text, --help lists
// the environment, usage errors are one line like every other error, --version answers,
// migrate says the same thing in text and in JSON, and a user made without a password is
// told how they can sign in.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli';
import { buildProgram } from '../../src/cli';
import { CONFIG_VARIABLES } from '../../src/config';
import { PROJECT_ROOT } from '../../src/paths';

const dir = mkdtempSync(join(tmpdir(), 'applink-help-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function applink(args: string[], env: Record<string, string> = {}, stdin = '') {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', APPLINK_LOG_LEVEL: 'silent', ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
    p.stdin.end(stdin);
  });
}

const commands = (c: Command, path: string[] = []): Array<{ path: string[]; command: Command }> =>
  c.commands.flatMap((sub) => [{ path: [...path, sub.name()], command: sub }, ...commands(sub, [...path, sub.name()])]);

describe('applink help', () => {
  it('every command and every option has help text', () => {
    const all = commands(buildProgram());
    expect(all.length).toBeGreaterThan(15);
    for (const { path, command } of all) {
      expect(command.description(), path.join(' ')).not.toBe('');
      for (const option of command.options)
        expect(option.description, `${path.join(' ')} ${option.flags}`).not.toBe('');
    }
  });

  it('--help lists every environment variable; --version prints the package version', async () => {
    const [help, version, short] = await Promise.all([applink(['--help']), applink(['--version']), applink(['-v'])]);
    expect(help.code).toBe(0);
    for (const name of CONFIG_VARIABLES) expect(help.out, name).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version).toEqual({ code: 0, out: `${pkg.version}\n`, err: '' });
    expect(short.out).toBe(`${pkg.version}\n`);
  });

  it('usage errors are one line, like every other error', async () => {
    const runs = await Promise.all([
      applink(['frob']),
      applink(['keys', 'repair']),
      applink(['user', 'create', '--username', 'x']),
      applink(['user', 'list', '--colour']),
    ]);
    for (const r of runs) {
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^applink: [^\n]+; see --help\n$/);
    }
  });
});

describe('applink migrate', () => {
  it('says the same in text and in JSON: what it applied, and that the database is up to date', async () => {
    const env = {
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'm', 'db.sqlite')}`,
      APPLINK_SECRET_KEY_FILE: join(dir, 'm', 'secret.key'),
    };
    const envJson = {
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'j', 'db.sqlite')}`,
      APPLINK_SECRET_KEY_FILE: join(dir, 'j', 'secret.key'),
    };
    const [text, json] = await Promise.all([applink(['migrate'], env), applink(['migrate', '--json'], envJson)]);
    expect(json.code, json.err).toBe(0);
    const first = JSON.parse(json.out) as { applied: string[]; upToDate: boolean };
    expect(first.upToDate).toBe(true);
    expect(first.applied.length).toBeGreaterThan(2);
    expect(text.out).toBe(
      `applied ${first.applied.length} migrations (${first.applied.join(', ')}): the database is up to date\n`,
    );
    const [again, againJson] = await Promise.all([applink(['migrate'], env), applink(['migrate', '--json'], envJson)]);
    expect(again.out).toBe('nothing to apply: the database is up to date\n');
    expect(JSON.parse(againJson.out)).toEqual({ applied: [], upToDate: true });
  });
});

describe('applink user create', () => {
  it('without a password: says the user can sign in only through single sign-on', async () => {
    const env = {
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'u', 'db.sqlite')}`,
      APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
    };
    expect((await applink(['migrate'], env)).code).toBe(0);
    const noSso = await applink(['user', 'create', '--username', 'carol', '--email', 'carol@example.com'], env);
    expect(noSso.code, noSso.err).toBe(0);
    expect(noSso.out).toMatch(/^created user carol\b.*no password: carol can sign in only through single sign-on/);
    expect(noSso.out).toContain('not configured');
    const withPassword = await applink(
      ['user', 'create', '--username', 'dave', '--email', 'dave@example.com', '--password-stdin'],
      env,
      'a long password\n',
    );
    expect(withPassword.out).toBe('created user dave\n');
  });
});
