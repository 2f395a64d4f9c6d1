// kill -9 in the middle of a stream of token requests, approvals, exchanges and calls, on
// a real server process with an SQLite file. After a restart: every grant a client saw
// succeed is there and works, every approval a client saw can still be exchanged (or was
// exchanged just before the crash), nothing is half-written, and SQLite's own checks pass.
import { mkdtempSync, rmSync } from 'node:fs';
import { OPERATOR } from '../../src/services/actor';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, withDatabase, type ServerProcess } from '../helpers/process';
import { PASSWORD } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn, verifierFrom } from '../helpers/browser';
import { signedFetch } from '../helpers/sign';
import { hashToken } from '../../src/oauth1/tokens';
import { must } from '../helpers/must';
import { credentialsOf } from '../helpers/credentials';

const dir = mkdtempSync(join(tmpdir(), 'applink-crash-'));
const file = join(dir, 'applink.sqlite');
const env = {
  APPLINK_PORT: '0',
  APPLINK_HOST: '127.0.0.1',
  APPLINK_DATABASE_URL: `sqlite:${file}`,
  APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
  APPLINK_LOG_LEVEL: 'info',
};
const WORKERS = 6;
const LIVES = 3;
const GRANTS_PER_LIFE = 12;

let server: ServerProcess | undefined;
afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  approvals: Array<{ token: string; secret: string; verifier: string }>;
  grants: Array<{ token: string; secret: string }>;
  unexpected: string[];
}

describe('crash safety (kill -9)', { timeout: 180_000 }, () => {
  it('keeps every grant a client saw, and nothing half-written', async () => {
    const consumer = await withDatabase(env, async (s) => {
      await s.users.create(OPERATOR, { username: 'alice', email: 'alice@example.com', password: PASSWORD });
      const c = await s.consumers.create(OPERATOR, { key: 'crash', name: 'Crash test' });
      return { key: 'crash', secret: must(c.secret, 'the secret of consumer crash') };
    });
    const asConsumer = { consumerKey: consumer.key, consumerSecret: consumer.secret, method: 'POST' };

    const seen: Seen = { approvals: [], grants: [], unexpected: [] };

    // Several lives, each ended by SIGKILL at a random moment of the stream.
    for (let life = 1; life <= LIVES; life++) {
      server = await spawnServer(env);
      const base = server.url;
      let killed = false;
      // read through a call: the workers' awaits let the kill happen between two reads
      const isKilled = () => killed;

      // One after the other: parallel sign-ins of one account from one address count as
      // parallel guesses for the brakes (docs/operations.md, Brute force).
      const jars: CookieJar[] = [];
      for (let i = 0; i < WORKERS; i++) {
        const jar = new CookieJar();
        const login = await signIn(base, jar, 'alice');
        if (login.status !== 302) seen.unexpected.push(`sign-in ${login.status}`);
        jars.push(jar);
      }

      const worker = async (jar: CookieJar) => {
        while (!isKilled()) {
          try {
            const rt = await signedFetch(`${base}/oauth/request-token`, {
              ...asConsumer,
              oauth: { oauth_callback: 'oob' },
            });
            if (rt.status !== 200) throw new Error(`request token ${rt.status} ${rt.body}`);
            const { token, secret } = credentialsOf(rt.params, 'request token');
            const consent = await browse(jar, `${base}/oauth/authorize?oauth_token=${encodeURIComponent(token)}`);
            const html = await consent.text();
            if (consent.status !== 200) throw new Error(`consent ${consent.status}`);
            const decided = await browse(
              jar,
              `${base}/oauth/authorize`,
              form({ _csrf: csrfOf(html), oauth_token: token, decision: 'allow' }),
            );
            if (decided.status !== 200) throw new Error(`decision ${decided.status}`);
            const verifier = await verifierFrom(decided);
            seen.approvals.push({ token, secret, verifier });
            const at = await signedFetch(`${base}/oauth/access-token`, {
              ...asConsumer,
              token,
              tokenSecret: secret,
              oauth: { oauth_verifier: verifier },
            });
            if (at.status !== 200) throw new Error(`access token ${at.status} ${at.body}`);
            const grant = credentialsOf(at.params, 'access token');
            seen.grants.push(grant);
            const call = await signedFetch(`${base}/rest/api/1/myself`, {
              consumerKey: consumer.key,
              consumerSecret: consumer.secret,
              token: grant.token,
              tokenSecret: grant.secret,
            });
            if (call.status !== 200) throw new Error(`call ${call.status}`);
          } catch (e) {
            // after the kill, failures are the point; before it, they are bugs
            if (!isKilled()) seen.unexpected.push((e as Error).message);
            return;
          }
        }
      };

      const target = seen.grants.length + GRANTS_PER_LIFE;
      const workers = jars.map(worker);
      while (seen.grants.length < target && seen.unexpected.length === 0) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 60)));
      killed = true;
      server.child.kill('SIGKILL');
      expect((await server.exited).signal).toBe('SIGKILL');
      await Promise.all(workers);
      expect(seen.unexpected).toEqual([]);

      // The file as the crash left it (SQLite recovers the WAL on open).
      checkDatabase(file, seen);
    }
    expect(seen.grants.length).toBeGreaterThanOrEqual(LIVES * GRANTS_PER_LIFE);

    // Restart: everything the clients saw is there and works.
    server = await spawnServer(env);
    const restarted = server.url;
    const call = (g: { token: string; secret: string }) =>
      signedFetch(`${restarted}/rest/api/1/myself`, {
        consumerKey: consumer.key,
        consumerSecret: consumer.secret,
        token: g.token,
        tokenSecret: g.secret,
      });
    for (const g of seen.grants) {
      const r = await call(g);
      expect(r.status, r.body).toBe(200);
    }
    const granted = new Set(seen.grants.length ? grantedRequestTokens(file) : []);
    for (const a of seen.approvals) {
      const r = await signedFetch(`${restarted}/oauth/access-token`, {
        ...asConsumer,
        token: a.token,
        tokenSecret: a.secret,
        oauth: { oauth_verifier: a.verifier },
      });
      if (granted.has(hashToken(a.token))) {
        // exchanged before the crash (the client may or may not have seen the answer)
        expect(r.params.oauth_problem).toBe('token_rejected');
      } else {
        expect(r.status, r.body).toBe(200);
        const again = credentialsOf(r.params, 'access token');
        expect((await call(again)).status).toBe(200);
      }
    }

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    checkDatabase(file, seen);
  });
});

/** Hashes of the request tokens that were exchanged. */
function grantedRequestTokens(path: string): string[] {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    return (
      db.prepare('SELECT token_hash FROM request_tokens WHERE used_at IS NOT NULL').all() as Array<{
        token_hash: string;
      }>
    ).map((r) => r.token_hash);
  } finally {
    db.close();
  }
}

function checkDatabase(path: string, seen: Seen): void {
  const db = new BetterSqlite3(path);
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;

    // every exchange is whole: a used request token for each access token, and back
    const used = one('SELECT count(*) AS n FROM request_tokens WHERE used_at IS NOT NULL');
    const issued = one('SELECT count(*) AS n FROM access_tokens');
    expect(used).toBe(issued);
    expect(issued).toBeGreaterThanOrEqual(seen.grants.length);
    expect(
      one(`SELECT count(*) AS n FROM request_tokens WHERE used_at IS NOT NULL
           AND (authorized_at IS NULL OR user_id IS NULL OR verifier_hash IS NULL OR denied_at IS NOT NULL)`),
    ).toBe(0);
    expect(
      one('SELECT count(*) AS n FROM request_tokens WHERE authorized_at IS NOT NULL AND denied_at IS NOT NULL'),
    ).toBe(0);
    expect(
      one(
        'SELECT count(*) AS n FROM request_tokens WHERE authorized_at IS NOT NULL AND (user_id IS NULL OR verifier_hash IS NULL)',
      ),
    ).toBe(0);
    expect(one('SELECT count(*) AS n FROM request_tokens WHERE authorized_at IS NOT NULL')).toBeGreaterThanOrEqual(
      seen.approvals.length,
    );

    // every change has its audit entry, written with it
    const missing = (table: string, event: string, where = '1=1') =>
      one(`SELECT count(*) AS n FROM ${table} t WHERE ${where} AND NOT EXISTS
             (SELECT 1 FROM audit_events a WHERE a.event = '${event}' AND a.token_id = t.id)`);
    expect(missing('request_tokens', 'request_token.issued')).toBe(0);
    expect(missing('request_tokens', 'authorization.approved', 't.authorized_at IS NOT NULL')).toBe(0);
    expect(missing('access_tokens', 'access_token.issued')).toBe(0);
    expect(one(`SELECT count(*) AS n FROM audit_events WHERE event = 'access_token.issued'`)).toBe(issued);
  } finally {
    db.close();
  }
}
