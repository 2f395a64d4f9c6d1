// Master-key rotation as an operator runs it, against servers that keep serving:
// K1 -> servers with K2 current and K1 previous -> `applink keys rotate` while calls run
// -> servers with K2 only. Old tokens, pending approvals, consumer secrets and sessions
// keep working where the procedure says they do, and not one call fails meanwhile.
import { mkdtempSync, rmSync } from 'node:fs';
import { OPERATOR } from '../../src/services/actor';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startServer, type RunningServer } from '../../src/server';
import { keyId } from '../../src/secret-box';
import { PASSWORD } from '../helpers/server';
import { pinnedBase } from '../helpers/gateway';
import { browse, CookieJar, csrfOf, form, signIn, verifierFrom } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { credentialsOf } from '../helpers/credentials';
import { must } from '../helpers/must';

/** `applink keys status --json` */
interface KeyStatus {
  currentKeyId: string;
  stale: number;
  columns: Array<{ table: string; column: string; byKey: Record<string, number> }>;
}

const BIN = resolve(__dirname, '../../bin/applink.js');
const dir = mkdtempSync(join(tmpdir(), 'applink-keys-'));
const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
// A gateway upstream that records the identity assertion (signed with the gateway's
// private key, which is sealed under the master key like every other secret).
const assertions: string[] = [];
const upstream: Server = createServer((req, res) => {
  assertions.push(String(req.headers['applink-jwt-assertion']));
  res.end('ok');
});
const upstreamUrl = new Promise<string>((resolve) =>
  upstream.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(upstream.address() as { port: number }).port}`)),
);
const kidOf = (jwt: string) =>
  (
    JSON.parse(Buffer.from(must(jwt.split('.')[0], 'the header of the assertion'), 'base64url').toString()) as {
      kid: string;
    }
  ).kid;

const base = {
  APPLINK_PORT: '0',
  APPLINK_HOST: '127.0.0.1',
  APPLINK_DATABASE_URL: `sqlite:${join(dir, 'applink.sqlite')}`,
  APPLINK_LOG_LEVEL: 'silent',
};
let gatewayRoutes = '';
// gateway routes need APPLINK_BASE_URL (the CLI loads the same configuration)
const pinned = pinnedBase();
let pinnedEnv: Record<string, string> = {};
const withKeys = (current: string, previous: string[] = []) => ({
  ...base,
  ...(gatewayRoutes && pinnedEnv),
  APPLINK_GATEWAY_ROUTES: gatewayRoutes,
  APPLINK_SECRET_KEY: current,
  APPLINK_PREVIOUS_SECRET_KEYS: previous.join(','),
});
// Each start listens on a port of its own (a client's pooled connection to the previous
// server must not be reused), named by its base URL when the gateway needs one.
const start = async (env: Record<string, string>) => {
  const config = loadConfig(gatewayRoutes ? { ...env, ...(await pinnedBase()) } : env);
  return startServer(config, createLogger(config));
};
const cli = (env: Record<string, string>, ...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const cliAsync = (env: Record<string, string>, ...args: string[]) =>
  new Promise<{ code: number | null; out: string; err: string }>((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => done({ code, out, err }));
  });

let running: RunningServer | undefined;
afterAll(async () => {
  await running?.close();
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('applink keys rotate', () => {
  it('generate prints a fresh 32-byte key', () => {
    const r = cli(base, 'keys', 'generate', '--json');
    expect(r.code, r.err).toBe(0);
    const { key, keyId: id } = JSON.parse(r.out) as { key: string; keyId: string };
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(id).toBe(keyId(Buffer.from(key, 'base64')));
  });

  it('re-encrypts every secret without interrupting readers; old tokens keep working', async () => {
    // 1. Life under K1: a consumer, a grant, an approved-but-unexchanged request token, a
    //    session, a gateway signing key.
    gatewayRoutes = `/app=${await upstreamUrl}`;
    pinnedEnv = await pinned;
    running = await start(withKeys(K1));
    let s = running;
    await s.services.users.create(OPERATOR, { username: 'alice', email: 'alice@example.com', password: PASSWORD });
    const consumer = {
      key: 'rot',
      secret: must(
        (await s.services.consumers.create(OPERATOR, { key: 'rot', name: 'Rotated' })).secret,
        'the secret of consumer rot',
      ),
    };
    const asConsumer = { consumerKey: consumer.key, consumerSecret: consumer.secret, method: 'POST' };
    const requestToken = async (url: string) => {
      const r = await signedFetch(`${url}/oauth/request-token`, { ...asConsumer, oauth: { oauth_callback: 'oob' } });
      expect(r.status, r.body).toBe(200);
      return credentialsOf(r.params, 'request token');
    };
    const approveWith = async (url: string, jar: CookieJar, token: string) => {
      const page = await browse(jar, `${url}/oauth/authorize?oauth_token=${encodeURIComponent(token)}`);
      expect(page.status).toBe(200);
      return verifierFrom(
        await browse(
          jar,
          `${url}/oauth/authorize`,
          form({ _csrf: csrfOf(await page.text()), oauth_token: token, decision: 'allow' }),
        ),
      );
    };
    const exchange = async (url: string, rt: { token: string; secret: string }, verifier: string) => {
      const r = await signedFetch(`${url}/oauth/access-token`, {
        ...asConsumer,
        token: rt.token,
        tokenSecret: rt.secret,
        oauth: { oauth_verifier: verifier },
      });
      expect(r.status, r.body).toBe(200);
      return credentialsOf(r.params, 'access token');
    };
    const call = (url: string, at: { token: string; secret: string }) =>
      signedFetch(`${url}/rest/api/1/myself`, {
        consumerKey: consumer.key,
        consumerSecret: consumer.secret,
        token: at.token,
        tokenSecret: at.secret,
      });

    const jar = new CookieJar();
    expect((await signIn(s.url, jar, 'alice')).status).toBe(302);
    const rt1 = await requestToken(s.url);
    const grant = await exchange(s.url, rt1, await approveWith(s.url, jar, rt1.token));
    const pending = await requestToken(s.url);
    const pendingVerifier = await approveWith(s.url, jar, pending.token);
    expect((await call(s.url, grant)).status).toBe(200);
    const viaGateway = async (url: string) => {
      const r = await signedFetch(`${url}/app/x`, {
        consumerKey: consumer.key,
        consumerSecret: consumer.secret,
        token: grant.token,
        tokenSecret: grant.secret,
      });
      expect(r.status, r.body).toBe(200);
      return kidOf(must(assertions.at(-1), 'the assertion the upstream received'));
    };
    const gatewayKid = await viaGateway(s.url);
    await s.close();

    const k1 = keyId(Buffer.from(K1, 'base64'));
    const k2 = keyId(Buffer.from(K2, 'base64'));
    const status = (env: Record<string, string>) => JSON.parse(cli(env, 'keys', 'status', '--json').out) as KeyStatus;
    expect(status(withKeys(K1)).stale).toBe(0);

    // 2. Restart with K2 current and K1 previous: everything from before still works,
    //    including the session; new secrets are sealed under K2.
    running = await start(withKeys(K2, [K1]));
    s = running;
    expect((await call(s.url, grant)).status).toBe(200);
    expect((await browse(jar, `${s.url}/profile/authorized-apps`)).status).toBe(200);
    await requestToken(s.url);
    const before = status(withKeys(K2, [K1]));
    expect(before.currentKeyId).toBe(k2);
    expect(before.stale).toBe(5); // consumer secret, two request tokens, one access token, the gateway key
    expect(before.columns.find((c) => c.table === 'request_tokens')?.byKey).toEqual({
      [k1]: 2,
      [k2]: 1,
    });

    // Without the old key, rotation refuses to start and changes nothing.
    const refused = cli(withKeys(K2), 'keys', 'rotate');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('APPLINK_PREVIOUS_SECRET_KEYS');
    expect(status(withKeys(K2, [K1])).stale).toBe(5);

    // 3. Rotate (one row per transaction, to interleave with the server) while calls run.
    let rotating = true;
    const answers: number[] = [];
    // a function, not an inline call: `rotating` changes while it awaits
    const keepCalling = async () => {
      while (rotating) {
        answers.push((await call(s.url, grant)).status);
        answers.push(
          await requestToken(s.url).then(
            () => 200,
            () => 500,
          ),
        );
      }
    };
    const load = keepCalling();
    const rotated = await cliAsync(withKeys(K2, [K1]), 'keys', 'rotate', '--batch-size', '1', '--json');
    rotating = false;
    await load;
    expect(rotated.code, rotated.err).toBe(0);
    expect(JSON.parse(rotated.out)).toMatchObject({ currentKeyId: k2, rotated: 5 });
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((a) => a === 200)).toBe(true);
    const after = status(withKeys(K2, [K1]));
    expect(after.stale).toBe(0);
    const audit = await s.services.audits.list({ event: 'keys.rotated' });
    expect(JSON.parse(must(must(audit[0], 'the keys.rotated event').detail, 'its detail'))).toMatchObject({
      keyId: k2,
      rotated: 5,
    });
    await s.close();

    // 4. K1 retired: the old grant, the pending approval, the consumer secret and the
    //    gateway's signing key all work under K2 alone.
    running = await start(withKeys(K2));
    s = running;
    expect((await call(s.url, grant)).status).toBe(200);
    expect(await viaGateway(s.url)).toBe(gatewayKid);
    const late = await exchange(s.url, pending, pendingVerifier);
    expect((await call(s.url, late)).status).toBe(200);
    await requestToken(s.url);
    // sessions signed under K1 end with it
    expect((await browse(jar, `${s.url}/profile/authorized-apps`)).status).toBe(302);
  });
});
