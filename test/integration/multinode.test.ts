// Two real server processes (the build, `node dist/src/main.js`) on different ports, one
// PostgreSQL database, one master key, one public base URL (as behind a load balancer):
// nonces, sessions, single-use verifiers, revocations and disabled users hold across nodes.
import { spawn, type ChildProcess } from 'node:child_process';
import { OPERATOR } from '../../src/services/actor';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OAuth1a from 'oauth-1.0a';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db';
import { createWiring } from '../../src/wiring';
import { SecretBox } from '../../src/secret-box';
import { createLogger } from '../../src/logger';
import { createTempPgDatabase } from '../helpers/pg';
import { PASSWORD, testDatabases } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { runCli } from '../helpers/cli';
import { capture } from '../helpers/capture';
import { must } from '../helpers/must';
import { credentialsOf } from '../helpers/credentials';

const onPg = (await testDatabases()).filter((d) => d === 'pg');

const PUBLIC = 'http://applink.test'; // the load balancer's URL: every signature is built on it
const MAIN = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

interface Node {
  url: string;
  proc: ChildProcess;
  stderr: () => string;
}

/** Starts `node dist/src/main.js`; resolves with its address once it logs that it listens. */
function startNode(env: Record<string, string>): Promise<Node> {
  const proc = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', APPLINK_PORT: '0', APPLINK_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    // a node that never says it listens is stopped, not left running past the test
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`node did not start: ${err}`));
    }, 20_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        const url = /"msg":"applink listening"/.test(line) ? (JSON.parse(line) as { url: string }).url : null;
        if (url) {
          clearTimeout(timer);
          resolve({ url, proc, stderr: () => err });
        }
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`node exited with ${String(code)}: ${err}`), { code, stderr: err }));
    });
  });
}

describe.each(onPg)('two nodes on one %s database', () => {
  const key = randomBytes(32).toString('base64');
  let dbUrl: string;
  let drop: (() => Promise<void>) | undefined;
  let env: Record<string, string>;
  let a: Node;
  let b: Node;
  // every node that came up, so that one failing to start does not leave the other running
  const started: Node[] = [];
  const consumers: Record<string, string> = {};

  beforeAll(async () => {
    const pg = await createTempPgDatabase();
    dbUrl = pg.url;
    drop = () => pg.drop();
    env = {
      APPLINK_DATABASE_URL: dbUrl,
      APPLINK_SECRET_KEY: key,
      APPLINK_BASE_URL: PUBLIC,
      APPLINK_LOG_LEVEL: 'info',
    };
    // Both nodes start at once on the fresh database: both run the migrations.
    const start = async () => {
      const n = await startNode(env);
      started.push(n);
      return n;
    };
    [a, b] = await Promise.all([start(), start()]);
    // users and consumers, created by an admin process on the same database
    const config = loadConfig({ APPLINK_DATABASE_URL: dbUrl, APPLINK_SECRET_KEY: key });
    const db = openDatabase(config.database);
    try {
      const s = createWiring(
        config,
        db,
        new SecretBox(must(config.secretKey, 'the master key')),
        createLogger({ logLevel: 'silent' }),
      );
      for (const u of ['alice', 'bob', 'carol'])
        await s.users.create(OPERATOR, { username: u, email: `${u}@example.com`, password: PASSWORD });
      for (const c of ['wiki', 'tracker'])
        consumers[c] = must(
          (await s.consumers.create(OPERATOR, { key: c, name: `${c} app` })).secret,
          `the secret of consumer ${c}`,
        );
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    for (const n of started) {
      if (n.proc.exitCode !== null) continue;
      const exited = new Promise((r) => n.proc.once('exit', r));
      n.proc.kill('SIGTERM');
      await exited;
    }
    await drop?.();
  });

  const signer = (consumer: string) =>
    new OAuth1a({
      consumer: { key: consumer, secret: must(consumers[consumer], `the secret of consumer ${consumer}`) },
      signature_method: 'HMAC-SHA1',
      hash_function: (base, k) => createHmac('sha1', k).update(base).digest('base64'),
    });

  /** Signs for the public URL; returns the headers, so the very same request can go to either node. */
  const sign = (consumer: string, method: string, path: string, data: Record<string, string>, token?: Token) =>
    ({
      ...signer(consumer).toHeader(
        signer(consumer).authorize(
          { url: PUBLIC + path, method, data },
          token && { key: token.token, secret: token.secret },
        ),
      ),
    }) as Record<string, string>;

  const send = async (node: Node, method: string, path: string, headers: Record<string, string>, body?: string) => {
    const res = await fetch(node.url + path, {
      method,
      headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/x-www-form-urlencoded' }) },
      body,
    });
    return { status: res.status, body: await res.text() };
  };

  interface Token {
    token: string;
    secret: string;
  }
  const parse = (body: string): Token => credentialsOf(Object.fromEntries(new URLSearchParams(body)));

  const requestToken = async (node: Node, consumer = 'wiki'): Promise<Token> => {
    const r = await send(
      node,
      'POST',
      '/oauth/request-token',
      sign(consumer, 'POST', '/oauth/request-token', { oauth_callback: 'oob' }),
    );
    expect(r.status, r.body).toBe(200);
    return parse(r.body);
  };

  /** Signs in on `signInNode` and approves on `approveNode`; returns the verifier. */
  const approveAcross = async (signInNode: Node, approveNode: Node, rt: Token, user: string) => {
    const jar = new CookieJar();
    expect((await signIn(signInNode.url, jar, user)).status).toBe(302);
    const consent = await browse(jar, `${approveNode.url}/oauth/authorize?oauth_token=${encodeURIComponent(rt.token)}`);
    const html = await consent.text();
    expect(consent.status, html).toBe(200);
    const decided = await browse(
      jar,
      `${approveNode.url}/oauth/authorize`,
      form({ _csrf: csrfOf(html), oauth_token: rt.token, decision: 'allow' }),
    );
    expect(decided.status).toBe(200);
    return capture(/id="verifier">([^<]+)</, await decided.text(), 'the verifier on the page');
  };

  const exchange = (node: Node, rt: Token, verifier: string, consumer = 'wiki') =>
    send(
      node,
      'POST',
      '/oauth/access-token',
      sign(consumer, 'POST', '/oauth/access-token', { oauth_verifier: verifier }, rt),
    );

  const accessToken = async (user: string, consumer = 'wiki'): Promise<Token> => {
    const rt = await requestToken(a, consumer);
    const r = await exchange(b, rt, await approveAcross(a, a, rt, user), consumer);
    expect(r.status, r.body).toBe(200);
    return parse(r.body);
  };

  const myself = (node: Node, t: Token, consumer = 'wiki') =>
    send(node, 'GET', '/rest/api/1/myself', sign(consumer, 'GET', '/rest/api/1/myself', {}, t));

  const problem = (body: string) => new URLSearchParams(body).get('oauth_problem');

  it('a nonce used on node A is refused on node B', async () => {
    const headers = sign('wiki', 'POST', '/oauth/request-token', { oauth_callback: 'oob' });
    const first = await send(a, 'POST', '/oauth/request-token', headers);
    expect(first.status, first.body).toBe(200);
    const replay = await send(b, 'POST', '/oauth/request-token', headers);
    expect([replay.status, problem(replay.body)]).toEqual([401, 'nonce_used']);

    const t = await accessToken('alice');
    const call = sign('wiki', 'GET', '/rest/api/1/myself', {}, t);
    expect((await send(b, 'GET', '/rest/api/1/myself', call)).status).toBe(200);
    const again = await send(a, 'GET', '/rest/api/1/myself', call);
    expect([again.status, problem(again.body)]).toEqual([401, 'nonce_used']);
  });

  it('signed in on node A, the user approves on node B (one shared session)', async () => {
    const rt = await requestToken(b);
    const verifier = await approveAcross(a, b, rt, 'alice');
    const r = await exchange(a, rt, verifier);
    expect(r.status, r.body).toBe(200);
    const me = await myself(b, parse(r.body));
    expect(JSON.parse(me.body)).toMatchObject({ username: 'alice' });
  });

  it('the same verifier exchanged on both nodes at once yields exactly one access token', async () => {
    for (let round = 0; round < 6; round++) {
      const rt = await requestToken(a);
      const verifier = await approveAcross(b, b, rt, 'bob');
      const [ra, rb] = await Promise.all([exchange(a, rt, verifier), exchange(b, rt, verifier)]);
      const outcomes = [ra, rb]
        .map((r) => (r.status === 200 ? 'issued' : `${r.status} ${problem(r.body) ?? 'no oauth_problem'}`))
        .sort();
      expect(outcomes).toEqual(['401 token_rejected', 'issued']);
      const winner = parse(
        must(
          [ra, rb].find((r) => r.status === 200),
          'the exchange that answered 200',
        ).body,
      );
      expect((await myself(round % 2 ? a : b, winner)).status).toBe(200);
    }
  });

  it('a token revoked through node A is refused by node B on the very next request', async () => {
    const t = await accessToken('carol', 'tracker');
    expect((await myself(b, t, 'tracker')).status).toBe(200);
    const jar = new CookieJar();
    await signIn(a.url, jar, 'carol');
    const page = await (await browse(jar, `${a.url}/profile/authorized-apps`)).text();
    const id = capture(/authorized-apps\/(\d+)\/revoke/, page, 'the revoke link of the grant');
    const revoked = await browse(jar, `${a.url}/profile/authorized-apps/${id}/revoke`, form({ _csrf: csrfOf(page) }));
    expect(revoked.status).toBe(302);
    const next = await myself(b, t, 'tracker');
    expect([next.status, problem(next.body)]).toEqual([401, 'token_revoked']);
  });

  it('a user disabled on node A (by the CLI on the shared database) is refused on node B at once', async () => {
    const t = await accessToken('bob');
    expect((await myself(b, t)).status).toBe(200);
    const cli = await runCli(['user', 'disable', '--username', 'bob'], {
      APPLINK_DATABASE_URL: dbUrl,
      APPLINK_SECRET_KEY: key,
    });
    expect(cli.code, cli.stderr).toBe(0);
    const next = await myself(b, t);
    expect([next.status, problem(next.body)]).toEqual([401, 'permission_denied']);
  });

  it('a third node with another key refuses to start', async () => {
    const noKey = await startNode({
      ...env,
      APPLINK_SECRET_KEY: '',
      APPLINK_SECRET_KEY_FILE: join(__dirname, 'no', 'such.key'),
    }).catch((e: unknown) => e);
    expect(noKey).toMatchObject({ code: 1 });
    expect((noKey as { stderr: string }).stderr).toMatch(
      /APPLINK_SECRET_KEY: must be set when the database is PostgreSQL/,
    );
    const otherKey = await startNode({ ...env, APPLINK_SECRET_KEY: randomBytes(32).toString('base64') }).catch(
      (e: unknown) => e,
    );
    expect(otherKey).toMatchObject({ code: 1 });
    expect((otherKey as { stderr: string }).stderr).toMatch(/APPLINK_SECRET_KEY: does not open the secrets/);
  });

  it('a consumer deleted by the CLI is unknown to both nodes at once', async () => {
    const t = await accessToken('alice', 'tracker');
    expect((await myself(a, t, 'tracker')).status).toBe(200);
    const cli = await runCli(['consumer', 'delete', '--key', 'tracker'], {
      APPLINK_DATABASE_URL: dbUrl,
      APPLINK_SECRET_KEY: key,
    });
    expect(cli.code, cli.stderr).toBe(0);
    for (const n of [a, b]) {
      const r = await myself(n, t, 'tracker');
      expect([r.status, problem(r.body)]).toEqual([401, 'consumer_key_unknown']);
    }
  });
});

// Runs without a PostgreSQL server too: the key is checked before the database is opened.
describe('a node on PostgreSQL', () => {
  it('refuses to start without the shared key rather than generating one of its own', async () => {
    const keyFile = join(__dirname, 'no', 'such.key');
    const noKey = await startNode({
      APPLINK_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      APPLINK_SECRET_KEY_FILE: keyFile,
    }).catch((e: unknown) => e);
    expect(noKey).toMatchObject({ code: 1 });
    expect((noKey as { stderr: string }).stderr).toMatch(
      /APPLINK_SECRET_KEY: must be set when the database is PostgreSQL/,
    );
    expect(existsSync(keyFile)).toBe(false);
  });
});
