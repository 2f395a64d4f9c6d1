// applink as the benchmarks see it: a database made for the run, credentials seeded
// through the real command line (bin/applink.js), the real server started as its own
// process (`applink serve`), and a signed-in browser session and one full dance over HTTP.
import { must } from './must';
import { randomBytes } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { freePort, run, start, stop, waitForHttp } from './proc';
import { Signer, formBody, type ConsumerCreds, type TokenCreds } from './oauth';

export const ROOT = resolve(__dirname, '..', '..', '..');
// BENCH_APPLINK_DIR: measure another build of applink (say, a checkout of an older commit,
// built) against the same yardsticks, for before/after figures from one machine.
const BIN = join(process.env.BENCH_APPLINK_DIR ? resolve(process.env.BENCH_APPLINK_DIR) : ROOT, 'bin', 'applink.js');

export const PG_ADMIN_URL =
  process.env.BENCH_PG_URL ?? process.env.APPLINK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const USERNAME = 'bench';
export const PASSWORD = 'bench password 123';
export const CALLBACK = 'http://127.0.0.1:9/linked/callback';

export interface Db {
  kind: 'sqlite' | 'pg';
  url: string;
  drop(): Promise<void>;
}

export function sqliteDb(dir: string, name = 'applink'): Db {
  return { kind: 'sqlite', url: `sqlite:${join(dir, `${name}.sqlite`)}`, drop: () => Promise.resolve() };
}

async function pgAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A throw-away database on the PostgreSQL server (as test/helpers/pg.ts makes them). */
export async function pgDb(): Promise<Db> {
  const name = `applink_bench_${randomBytes(6).toString('hex')}`;
  await pgAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'pg',
    url: url.toString(),
    drop: () => pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export async function pgReachable(): Promise<boolean> {
  try {
    await pgAdmin((c) => c.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

export interface Seeded {
  hmac: ConsumerCreds;
  rsa: ConsumerCreds;
}

/** The user and the two consumers (HMAC and RSA), created with the `applink` command. */
export async function seedThroughCli(
  env: NodeJS.ProcessEnv,
  dir: string,
  rsa: { publicKey: string; privateKey: string },
): Promise<Seeded> {
  const cli = async (args: string[], input?: string) =>
    JSON.parse(await run(process.execPath, [BIN, ...args, '--json'], env, input)) as unknown;
  // only `applink migrate` (or the server) creates the database
  await run(process.execPath, [BIN, 'migrate'], env);
  await cli(
    [
      'user',
      'create',
      '--username',
      USERNAME,
      '--email',
      'bench@example.com',
      '--display-name',
      'Bench User',
      '--password-stdin',
    ],
    PASSWORD + '\n',
  );
  const hmac = (await cli(['consumer', 'create', '--key', 'bench-hmac', '--name', 'Bench HMAC'])) as {
    consumerKey: string;
    consumerSecret: string;
  };
  const pemFile = join(dir, 'bench-rsa.pub.pem');
  writeFileSync(pemFile, rsa.publicKey);
  const r = (await cli([
    'consumer',
    'create',
    '--key',
    'bench-rsa',
    '--name',
    'Bench RSA',
    '--public-key-file',
    pemFile,
    '--no-secret',
  ])) as { consumerKey: string };
  return {
    hmac: { key: hmac.consumerKey, secret: hmac.consumerSecret, method: 'HMAC-SHA1' },
    rsa: { key: r.consumerKey, method: 'RSA-SHA1', privateKeyPem: rsa.privateKey },
  };
}

export interface Applink {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  origin: string;
  stop(): Promise<void>;
}

/** `applink serve` as its own process, pinned to `core`, its log written to a file. */
export async function startApplink(
  name: string,
  env: NodeJS.ProcessEnv,
  core: number | null,
  dir: string,
  nodeArgs: string[] = [],
  bin = BIN,
): Promise<Applink> {
  // A given port (APPLINK_PORT) is kept: the gateway needs APPLINK_BASE_URL to name it.
  const port = env.APPLINK_PORT ? Number(env.APPLINK_PORT) : await freePort();
  const log = createWriteStream(join(dir, `${name}.log`));
  await new Promise((r) => log.once('open', r));
  const child = start(core, process.execPath, [...nodeArgs, bin, 'serve'], {
    env: { ...env, APPLINK_PORT: String(port), APPLINK_HOST: '127.0.0.1' },
    stdio: ['ignore', log, log],
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/healthz`);
  return { name, child, pid: must(child.pid, 'the server process id'), port, origin, stop: () => stop(child) };
}

// --- a browser's part, over HTTP ---------------------------------------------------

class Jar {
  private readonly cookies = new Map<string, string>();
  store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function browse(jar: Jar, url: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
  });
  jar.store(res);
  return res;
}

const csrfOf = (html: string) => {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field on the page');
  return must(m[1], 'the CSRF token');
};

const formPost = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: formBody(fields),
});

/** Signs in through the login form; returns the session's Cookie header. */
export async function signIn(origin: string): Promise<string> {
  const jar = new Jar();
  const page = await browse(jar, `${origin}/login`);
  const res = await browse(
    jar,
    `${origin}/login`,
    formPost({
      _csrf: csrfOf(await page.text()),
      username: USERNAME,
      password: PASSWORD,
      next: '/profile/authorized-apps',
    }),
  );
  if (res.status !== 302) throw new Error(`sign-in failed: ${res.status}`);
  return jar.header();
}

const send = async (
  origin: string,
  r: { method: string; path: string; headers: Record<string, string>; body?: string },
) => {
  const res = await fetch(origin + r.path, { method: r.method, headers: r.headers, body: r.body, redirect: 'manual' });
  return { status: res.status, body: await res.text(), location: res.headers.get('location') };
};

/** One full dance over HTTP (request token, consent as the signed-in user, exchange). */
export async function dance(origin: string, consumer: ConsumerCreds, cookie: string): Promise<TokenCreds> {
  const signer = new Signer(consumer);
  const rt = await send(
    origin,
    signer.request('POST', origin, '/oauth/request-token', { oauth: { oauth_callback: CALLBACK } }),
  );
  if (rt.status !== 200) throw new Error(`request-token: ${rt.status} ${rt.body}`);
  const t = Object.fromEntries(new URLSearchParams(rt.body));
  const page = await send(origin, {
    method: 'GET',
    path: `/oauth/authorize?oauth_token=${String(t.oauth_token)}`,
    headers: { cookie },
  });
  if (page.status !== 200) throw new Error(`consent: ${page.status} ${page.body}`);
  const body = formBody({
    _csrf: csrfOf(page.body),
    oauth_token: must(t.oauth_token, 'oauth_token'),
    decision: 'allow',
  });
  const decided = await send(origin, {
    method: 'POST',
    path: '/oauth/authorize',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const verifier = decided.location && new URL(decided.location).searchParams.get('oauth_verifier');
  if (!verifier) throw new Error(`decision: ${decided.status} ${decided.body}`);
  const at = await send(
    origin,
    signer.request('POST', origin, '/oauth/access-token', {
      token: { key: must(t.oauth_token, 'oauth_token'), secret: must(t.oauth_token_secret, 'oauth_token_secret') },
      oauth: { oauth_verifier: verifier },
    }),
  );
  if (at.status !== 200) throw new Error(`access-token: ${at.status} ${at.body}`);
  const a = Object.fromEntries(new URLSearchParams(at.body));
  return { key: must(a.oauth_token, 'oauth_token'), secret: must(a.oauth_token_secret, 'oauth_token_secret') };
}

export { stop };
