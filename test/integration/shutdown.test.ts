// SIGTERM on a real server process: it stops accepting connections, finishes the request
// in flight (a body still arriving), closes the database and exits 0; idle keep-alive
// connections do not hold it up; past APPLINK_SHUTDOWN_TIMEOUT it cuts what is left.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { OPERATOR } from '../../src/services/actor';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'node:http';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, withDatabase, type ServerProcess } from '../helpers/process';
import { buildSignedRequest } from '../helpers/sign';
import { startTestServer } from '../helpers/server';
import { hashToken } from '../../src/oauth1/tokens';
import { must } from '../helpers/must';

const dir = mkdtempSync(join(tmpdir(), 'applink-shutdown-'));
const file = join(dir, 'applink.sqlite');
const env = (extra: Record<string, string> = {}) => ({
  APPLINK_PORT: '0',
  APPLINK_HOST: '127.0.0.1',
  APPLINK_DATABASE_URL: `sqlite:${file}`,
  APPLINK_SECRET_KEY: KEY,
  APPLINK_LOG_LEVEL: 'info',
  ...extra,
});
const KEY = randomBytes(32).toString('base64');
let consumer: { key: string; secret: string };
let server: ServerProcess | undefined;

beforeAll(async () => {
  consumer = await withDatabase(env(), async (s) => {
    const c = await s.consumers.create(OPERATOR, { key: 'slow', name: 'Slow client' });
    return { key: 'slow', secret: must(c.secret, 'the secret of consumer slow') };
  });
});
afterEach(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A signed request-token POST split in two: the head and half the body, then the rest. */
function slowRequest(base: string): { first: Buffer; rest: Buffer } {
  const { url, init } = buildSignedRequest(`${base}/oauth/request-token`, {
    consumerKey: consumer.key,
    consumerSecret: consumer.secret,
    method: 'POST',
    oauth: { oauth_callback: 'oob' },
    form: [['note', 'x'.repeat(4000)]],
  });
  const body = Buffer.from(init.body as string);
  const headers = init.headers as Record<string, string>;
  const head =
    `POST ${new URL(url).pathname} HTTP/1.1\r\nHost: ${new URL(base).host}\r\n` +
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n') +
    `\r\nContent-Length: ${body.length}\r\n\r\n`;
  const half = body.length >> 1;
  return { first: Buffer.concat([Buffer.from(head), body.subarray(0, half)]), rest: body.subarray(half) };
}

function open(base: string): Promise<Socket> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const readAll = (socket: Socket) =>
  new Promise<string>((resolve) => {
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('close', () => resolve(data));
    socket.on('error', () => undefined);
  });

const waitForLog = async (s: ServerProcess, msg: string) => {
  for (let i = 0; i < 200 && !s.logs.some((l) => l.msg === msg); i++) await sleep(10);
  return s.logs.find((l) => l.msg === msg);
};

describe('graceful shutdown (SIGTERM)', { timeout: 60_000 }, () => {
  it('finishes the request in flight, refuses new connections, closes the database, exits 0', async () => {
    server = await spawnServer(env());
    const s = server;
    const { first, rest } = slowRequest(s.url);
    const socket = await open(s.url);
    const answer = readAll(socket);
    socket.write(first);
    // Once the server has answered a request sent after ours, it has read our head and is
    // waiting for the rest of the body: our request is in flight.
    await sleep(100);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);

    s.child.kill('SIGTERM');
    expect(await waitForLog(s, 'shutting down')).toBeTruthy();
    // no longer accepting
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
    expect(s.child.exitCode).toBeNull(); // still waiting for our request

    await sleep(300); // slow client
    socket.write(rest);
    const raw = await answer;
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    const token = must(
      new URLSearchParams(raw.slice(raw.indexOf('\r\n\r\n') + 4)).get('oauth_token'),
      'oauth_token in the answer',
    );
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.logs.find((l) => l.msg === 'stopped')).toMatchObject({ inFlightAtStart: 1 });
    // closed cleanly: SQLite checkpointed and removed its write-ahead log
    expect(existsSync(`${file}-wal`)).toBe(false);
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) AS n FROM request_tokens WHERE token_hash = ?').get(hashToken(token))).toEqual(
        {
          n: 1,
        },
      );
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('does not wait for idle keep-alive connections', async () => {
    server = await spawnServer(env());
    const s = server;
    const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    const status = await new Promise<number>((resolve, reject) => {
      request(`${s.url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === undefined) reject(new Error('no status code in the answer'));
          else resolve(res.statusCode);
        });
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    const started = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(10_000); // not the 65 s keep-alive timeout
    agent.destroy();
  });

  it('cuts a request still unfinished after APPLINK_SHUTDOWN_TIMEOUT, and exits 0', async () => {
    server = await spawnServer(env({ APPLINK_SHUTDOWN_TIMEOUT: '1' }));
    const s = server;
    const socket = await open(s.url);
    const closed = readAll(socket);
    socket.write(slowRequest(s.url).first); // and never the rest
    await sleep(100);
    const started = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(15_000); // far below the 65 s keep-alive or an endless wait
    expect(await closed).toBe('');
    expect(s.logs.some((l) => l.msg === 'shutdown timeout: closing the remaining connections')).toBe(true);
  });
});

describe('readiness while draining', () => {
  it('readyz answers 503 once shutdown has begun', async () => {
    const t = await startTestServer();
    try {
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
      // the flag close() sets first, before it stops accepting
      t.app.set('draining', true);
      const r = await fetch(`${t.url}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ status: 'shutting down' });
    } finally {
      await t.stop();
    }
  });
});
