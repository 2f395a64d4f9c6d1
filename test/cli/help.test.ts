// The command line explains itself: --help lists the environment, usage errors are one
// line like every other error, --version answers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli';
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

describe('applink help', () => {
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
