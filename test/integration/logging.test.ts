// The server's log as an operator reads it: `applink serve` in a child process, its
// standard output buffered in blocks, and nothing lost when it stops: the start line and
// one access line per request (path without the query) are all there after SIGTERM.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

const BIN = resolve(__dirname, '../../bin/applink.js');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'applink-log-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const freePort = () =>
  new Promise<number>((done) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });

it('writes the start line and every access line by the time the server has stopped', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      APPLINK_PORT: String(port),
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
      APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
      APPLINK_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      if (i > 100) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const secret = 'do-not-log-this-token';
  expect((await fetch(`${base}/rest/api/1/myself?oauth_token=${secret}`)).status).toBe(400);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);

  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.some((l) => l.msg === 'applink listening')).toBe(true);
  const access = lines.filter((l) => l.msg === 'request');
  expect(access.map((l) => [l.method, l.path, l.status])).toEqual([
    ['GET', '/healthz', 200],
    ['GET', '/rest/api/1/myself', 400],
  ]);
  expect(access[1]?.oauth_problem).toBe('parameter_absent');
  expect(out).not.toContain(secret);
  expect(lines.some((l) => l.msg === 'shutting down')).toBe(true);
});
