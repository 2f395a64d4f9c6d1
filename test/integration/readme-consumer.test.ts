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
import { capture } from '../helpers/capture';
import { must } from '../helpers/must';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  await seedUser(s, 'alice');
});
afterAll(() => s.stop());

it('walks the dance and prints /rest/api/1/myself', async () => {
  const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A consumer in a few lines'));
  const code = capture(/```js\n([\s\S]*?)```/, section, 'the js block of the section');
  expect(code).toContain("const BASE = 'http://127.0.0.1:3000';");
  const script = join(resolve(__dirname, '../..'), `readme-consumer-${process.pid}.tmp.js`);
  writeFileSync(script, code.replace("const BASE = 'http://127.0.0.1:3000';", `const BASE = '${s.url}';`));
  const { secret } = await s.services.consumers.create(OPERATOR, { key: 'my-wiki', name: 'My Wiki' });

  const child = spawn(process.execPath, [script], {
    env: { ...process.env, SECRET: must(secret, 'the secret of consumer my-wiki') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
  try {
    const link = await new Promise<string>((res, rej) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const opened = /Open (\S+)/.exec(out)?.[1];
        if (opened && out.includes('Code shown')) res(opened);
      });
      child.on('exit', () => rej(new Error(`script ended early: ${out} ${err}`)));
    });
    const token = must(new URL(link).searchParams.get('oauth_token'), 'oauth_token in the link');
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
