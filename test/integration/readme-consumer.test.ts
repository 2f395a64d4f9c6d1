// The consumer example in the README, run as a newcomer would run it: the script is taken
// from the README verbatim (only BASE pointed at this test server), the user approves in
// between, and the verifier is typed at its prompt.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import { approve, verifierFrom } from '../helpers/browser';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  await seedUser(s, 'alice');
});
afterAll(() => s.stop());

it('walks the dance and prints /rest/api/1/myself', async () => {
  const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A consumer in a few lines'));
  const code = /```js\n([\s\S]*?)```/.exec(section)![1]!;
  expect(code).toContain("const BASE = 'http://127.0.0.1:3000';");
  const script = join(resolve(__dirname, '../..'), `readme-consumer-${process.pid}.tmp.js`);
  writeFileSync(script, code.replace("const BASE = 'http://127.0.0.1:3000';", `const BASE = '${s.url}';`));
  const { secret } = await s.services.consumers.create(OPERATOR, { key: 'my-wiki', name: 'My Wiki' });

  const child = spawn(process.execPath, [script], {
    env: { ...process.env, SECRET: secret! },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
  try {
    const link = await new Promise<string>((res, rej) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /Open (\S+)/.exec(out);
        if (m && out.includes('Code shown')) res(m[1]!);
      });
      child.on('exit', () => rej(new Error(`script ended early: ${out} ${err}`)));
    });
    const token = new URL(link).searchParams.get('oauth_token')!;
    const verifier = await verifierFrom(await approve(s.url, token, 'alice'));
    child.stdin.write(`${verifier}\n`);
    expect(await exited, err).toBe(0);
    expect(JSON.parse(out.slice(out.lastIndexOf('{')))).toEqual({
      username: 'alice',
      email: 'alice@example.com',
      displayName: 'alice Example',
    });
  } finally {
    child.kill();
    (await import('node:fs')).rmSync(script, { force: true });
  }
});
