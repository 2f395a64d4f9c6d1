// `npm start` and the first start as an operator sees them: the start script runs the built
// server without compiling when nothing changed (and rebuilds when a source is newer), and
// the first start prints the setup code in a line a person reads, not only in the JSON log.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths';
import { must } from '../helpers/must';

const build = createRequire(import.meta.url)(join(PROJECT_ROOT, 'scripts', 'build.js')) as {
  staleReason(root?: string): string | null;
  pruneOrphans(root?: string): string[];
};

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'applink-start-'));
  dirs.push(d);
  return d;
};

describe('the start script rebuilds only when a source is newer than the build', () => {
  it('decides from the sources, the stamp and the built server', () => {
    const root = tempDir();
    const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);
    mkdirSync(join(root, 'src', 'db'), { recursive: true });
    writeFileSync(join(root, 'src', 'db', 'a.ts'), '');
    writeFileSync(join(root, 'tsconfig.json'), '{}');
    expect(build.staleReason(root)).toBe('not built yet');
    mkdirSync(join(root, 'dist', 'src'), { recursive: true });
    writeFileSync(join(root, 'dist', 'src', 'main.js'), '');
    for (const p of ['src/db/a.ts', 'src/db', 'src', 'tsconfig.json']) at(p, 1000);
    at('dist/src/main.js', 2000);
    expect(build.staleReason(root)).toBeNull();
    at('src/db/a.ts', 3000); // an edit
    expect(build.staleReason(root)).toBe('the sources changed since the last build');
    writeFileSync(join(root, 'dist', '.built'), '');
    at('dist/.built', 4000); // scripts/build.js ran (outputs it did not need to rewrite keep their time)
    expect(build.staleReason(root)).toBeNull();
    writeFileSync(join(root, 'src', 'b.ts'), ''); // a new file: its folder's time moves too
    at('src/b.ts', 1000);
    at('src', 5000);
    expect(build.staleReason(root)).toBe('the sources changed since the last build');
  });

  it('removes compiled files whose source is gone (a module replaced by a folder of its name)', () => {
    const root = tempDir();
    mkdirSync(join(root, 'src', 'http', 'web'), { recursive: true });
    writeFileSync(join(root, 'src', 'http', 'web', 'index.ts'), '');
    writeFileSync(join(root, 'src', 'http', 'app.ts'), '');
    mkdirSync(join(root, 'dist', 'src', 'http', 'web'), { recursive: true });
    for (const f of ['web.js', 'web.js.map', 'app.js', 'app.js.map', 'web/index.js'])
      writeFileSync(join(root, 'dist', 'src', 'http', f), '');
    expect(build.pruneOrphans(root).sort()).toEqual([join('src', 'http', 'web.js'), join('src', 'http', 'web.js.map')]);
    expect(build.pruneOrphans(root)).toEqual([]);
  });

  it('npm start (scripts/start.js) with nothing changed: the built server listens, no compiler runs', async () => {
    const dir = tempDir();
    const started = Date.now();
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'scripts', 'start.js')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', APPLINK_PORT: '0', APPLINK_SECRET_KEY: randomBytes(32).toString('base64') },
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        for (const line of out.split('\n')) {
          if (line.includes('"applink listening"')) resolve(JSON.parse(line) as Record<string, unknown>);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${String(code)}: ${err}`)));
    });
    const elapsed = Date.now() - started;
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(err).not.toContain('building');
    // the first start of a new installation: the setup code, readable, and the same as the log's
    await expect.poll(() => err, { timeout: 10_000 }).toMatch(/FIRST RUN/);
    const line =
      /^applink: FIRST RUN: open (\S+) and enter the one-time setup code (\S+) to create the first administrator$/m.exec(
        err,
      );
    expect(line, err).not.toBeNull();
    const [, setupUrl, setupCode] = must(line, 'the FIRST RUN line');
    expect(setupUrl).toBe(`${listening.url as string}/setup`);
    const logged = out
      .split('\n')
      .filter((l) => l.includes('setupCode'))
      .map((l) => JSON.parse(l) as { setupCode: string });
    expect(logged.map((l) => l.setupCode)).toEqual([setupCode]);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    // not a timing test (the machine may be loaded), but worth seeing in the output
    process.stdout.write(`npm start with nothing changed: listening after ${elapsed} ms\n`);
  });
});
