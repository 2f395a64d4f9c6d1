// 100 MiB through the gateway in both directions: the body is streamed with backpressure,
// never held. Shown twice: in-process, where a stalled reader stalls the writer at the other
// end (a buffering proxy would swallow the whole body), and in a spawned applink process
// whose resident memory is measured while 100 MiB go up and 100 MiB come down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import { linkApp, pinnedBase, sign, startUpstream, type Linked, type Upstream } from '../helpers/gateway';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db';
import { secretBoxFor } from '../../src/master-key';
import { createLogger } from '../../src/logger';
import { createWiring } from '../../src/wiring';
import { PROJECT_ROOT } from '../../src/paths';
import { must } from '../helpers/must';

const MiB = 1024 * 1024;
const CHUNK = randomBytes(64 * 1024);
const TOTAL = 100 * MiB;
const CHUNKS = TOTAL / CHUNK.length;
const EXPECTED_SHA256 = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < CHUNKS; i++) h.update(CHUNK);
  return h.digest('hex');
})();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes TOTAL bytes with backpressure; `sent` counts what the socket has accepted. */
async function writeAll(w: NodeJS.WritableStream, progress: { sent: number }): Promise<void> {
  for (let i = 0; i < CHUNKS; i++) {
    if (!w.write(CHUNK)) await once(w, 'drain');
    progress.sent += CHUNK.length;
  }
  w.end();
}

/** Waits until `read()` has not changed for `quietMs`. */
async function settled(read: () => number, quietMs = 400): Promise<number> {
  let last = read();
  for (;;) {
    await sleep(quietMs);
    const now = read();
    if (now === last) return now;
    last = now;
  }
}

/** A signed PUT of TOTAL bytes (a non-form body: not part of the signature, streamed). */
function upload(l: Linked, url: string, progress: { sent: number }): Promise<{ status: number; text: string }> {
  const s = sign(l, 'PUT', url);
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: 'PUT',
        agent: false,
        headers: { ...s.headers, 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) },
      },
      (res) => {
        const status = res.statusCode;
        if (status === undefined) {
          reject(new Error('a response without a status code'));
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status, text }));
      },
    );
    req.on('error', reject);
    writeAll(req, progress).catch(reject);
  });
}

/** A signed GET whose response is hashed as it arrives. */
function download(l: Linked, url: string): Promise<IncomingMessage> {
  const s = sign(l, 'GET', url);
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    http
      .get({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false, headers: s.headers }, resolve)
      .on('error', reject);
  });
}

async function hashOf(res: IncomingMessage): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of res) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { bytes, sha256: h.digest('hex') };
}

/** The upstream's side: /sink hashes what arrives (and can be paused), /source sends TOTAL bytes. */
function streamingUpstream(up: Upstream, ctl: { received: number; sinkReq?: IncomingMessage; written: number }) {
  up.handle((req, res, seen) => {
    const url = req.url ?? '';
    if (url.startsWith('/sink')) {
      ctl.sinkReq = req;
      ctl.received = 0;
      const h = createHash('sha256');
      let stall = url.includes('stall');
      req.on('data', (c: Buffer) => {
        ctl.received += c.length;
        h.update(c);
        if (stall && ctl.received >= MiB) {
          stall = false;
          req.pause();
        }
      });
      req.on('end', () => {
        res.writeHead(seen.claims ? 200 : 403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes: ctl.received, sha256: h.digest('hex'), sub: seen.claims?.sub ?? null }));
      });
      return true;
    }
    if (url.startsWith('/source')) {
      if (!seen.claims) {
        res.writeHead(403).end();
        return true;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) });
      writeAll(res, { sent: 0 })
        .then(() => undefined)
        .catch(() => undefined);
      const origWrite = res.write.bind(res);
      res.write = ((chunk: Buffer, ...rest: unknown[]) => {
        ctl.written += chunk.length;
        return (origWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof res.write;
      return true;
    }
    return false;
  });
}

describe('in-process: backpressure crosses the gateway', () => {
  let up: Upstream;
  let server: TestServer;
  let alice: Linked;
  beforeAll(async () => {
    up = await startUpstream();
    server = await startTestServer({ ...(await pinnedBase()), APPLINK_GATEWAY_ROUTES: `/files=${up.url}` });
    up.trust(server.url, ['/files']);
    await seedUser(server, 'alice');
    alice = await linkApp(server.url, server.services, 'alice', 'uploader');
  });
  afterAll(async () => {
    await server.stop();
    await up.close();
  });

  it('upload: a stalled upstream stalls the client; then all 100 MiB arrive intact', async () => {
    const ctl = { received: 0, written: 0 } as { received: number; written: number; sinkReq?: IncomingMessage };
    streamingUpstream(up, ctl);
    const progress = { sent: 0 };
    const done = upload(alice, `${server.url}/files/sink/stall`, progress);
    while (!ctl.sinkReq || !ctl.sinkReq.isPaused()) await sleep(20);
    const stalledAt = await settled(() => progress.sent);
    // Only socket and stream buffers lie between the two ends: a few MiB, far from 100.
    expect(stalledAt).toBeLessThan(32 * MiB);
    expect(ctl.received).toBeLessThan(2 * MiB);
    ctl.sinkReq.resume();
    const r = await done;
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ bytes: TOTAL, sha256: EXPECTED_SHA256, sub: 'alice' });
  });

  it('download: a stalled client stalls the upstream; then all 100 MiB arrive intact', async () => {
    const ctl = { received: 0, written: 0 };
    streamingUpstream(up, ctl);
    const res = await download(alice, `${server.url}/files/source`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(TOTAL));
    res.pause();
    const stalledAt = await settled(() => ctl.written);
    expect(stalledAt).toBeLessThan(32 * MiB);
    const got = await hashOf(res);
    expect(got).toEqual({ bytes: TOTAL, sha256: EXPECTED_SHA256 });
  });
});

describe('in-process: a client that leaves ends the upstream exchange', () => {
  let up: Upstream;
  let server: TestServer;
  let alice: Linked;
  beforeAll(async () => {
    up = await startUpstream();
    server = await startTestServer({ ...(await pinnedBase()), APPLINK_GATEWAY_ROUTES: `/files=${up.url}` });
    up.trust(server.url, ['/files']);
    await seedUser(server, 'alice');
    alice = await linkApp(server.url, server.services, 'alice', 'leaver');
  });
  afterAll(async () => {
    await server.stop();
    await up.close();
  });

  it('mid-upload: the upstream request is aborted', async () => {
    let upstreamReq: IncomingMessage | undefined;
    const closed = new Promise<boolean>((resolve) => {
      up.handle((req) => {
        if (!req.url?.startsWith('/sink')) return false;
        upstreamReq = req;
        req.resume();
        req.on('close', () => resolve(req.complete));
        return true;
      });
    });
    const s = sign(alice, 'PUT', `${server.url}/files/sink`);
    const u = new URL(s.url);
    const client = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: 'PUT',
      agent: false,
      headers: { ...s.headers, 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) },
    });
    client.on('error', () => undefined);
    for (let i = 0; i < 32; i++) client.write(CHUNK);
    while (!upstreamReq) await sleep(10);
    client.destroy();
    expect(await closed).toBe(false); // closed before its body was complete
  });

  it('mid-download: the upstream response is cut', async () => {
    const ended = new Promise<boolean>((resolve) => {
      up.handle((req, res) => {
        if (!req.url?.startsWith('/source')) return false;
        res.writeHead(200, { 'content-length': String(TOTAL) });
        writeAll(res, { sent: 0 }).catch(() => undefined);
        res.on('close', () => resolve(res.writableFinished));
        return true;
      });
    });
    const res = await download(alice, `${server.url}/files/source`);
    expect(res.statusCode).toBe(200);
    await new Promise((r) => res.once('data', r));
    res.destroy();
    expect(await ended).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------

/** dist/ as `npm test` builds it; rebuilt here when a source file is newer. */
function ensureBuilt(): string {
  const main = join(PROJECT_ROOT, 'dist/src/main.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const sources = Math.max(newest(join(PROJECT_ROOT, 'src')), newest(join(PROJECT_ROOT, 'migrations')));
  if (!existsSync(main) || statSync(main).mtimeMs < sources) {
    execFileSync(process.execPath, [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: PROJECT_ROOT,
      stdio: 'inherit',
    });
  }
  return main;
}

/** Resident set size of a process, bytes (Linux /proc). */
const rssOf = (pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
};

describe('spawned server: resident memory while 100 MiB go each way', () => {
  let up: Upstream;
  let child: ChildProcess;
  let dir: string;
  let base: string;
  let alice: Linked;
  let closeDb: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const main = ensureBuilt();
    up = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'applink-gw-'));
    const env = {
      ...(await pinnedBase()),
      APPLINK_HOST: '127.0.0.1',
      APPLINK_DATABASE_URL: `sqlite:${join(dir, 'applink.sqlite')}`,
      APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
      APPLINK_LOG_LEVEL: 'info',
      APPLINK_GATEWAY_ROUTES: `/files=${up.url}`,
    };
    child = spawn(process.execPath, [main], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const stdout = must(child.stdout, "the server's piped stdout");
    base = await new Promise<string>((resolve, reject) => {
      let buf = '';
      stdout.setEncoding('utf8');
      const onData = (c: string) => {
        buf += c;
        const url = /"url":"(http:\/\/[^"]+)","database"/.exec(buf)?.[1];
        if (url !== undefined) {
          stdout.off('data', onData);
          stdout.resume(); // keep draining the request log
          resolve(url);
        }
      };
      stdout.on('data', onData);
      child.once('exit', (code) => reject(new Error(`applink exited with ${String(code)}`)));
    });
    up.trust(base, ['/files']);
    const config = loadConfig(env);
    const db = openDatabase(config.database);
    const services = createWiring(config, db, secretBoxFor(config), createLogger({ logLevel: 'silent' }));
    closeDb = () => db.close();
    await services.users.create(OPERATOR, {
      username: 'alice',
      email: 'alice@example.com',
      displayName: 'Alice',
      password: 'correct horse battery',
    });
    alice = await linkApp(base, services, 'alice', 'uploader');
  });

  afterAll(async () => {
    // beforeAll may have stopped part-way: any of these may still be unset
    const started = child as ChildProcess | undefined;
    started?.kill('SIGTERM');
    if (started?.exitCode === null) await once(started, 'exit');
    await closeDb?.();
    await (up as Upstream | undefined)?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('grows by well under 100 MiB, and not with the volume moved', async () => {
    const ctl = { received: 0, written: 0 };
    streamingUpstream(up, ctl);
    // warm up on small calls: code loaded, statements prepared, signing key made
    for (let i = 0; i < 5; i++) (await download(alice, `${base}/files/source`)).destroy();
    await sleep(200);
    const pid = must(child.pid, "the server's pid");
    const baseline = rssOf(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 10);
    const growth = () => Math.max(peak, rssOf(pid, 'VmHWM')) - baseline;
    const round = async () => {
      const u = await upload(alice, `${base}/files/sink`, { sent: 0 });
      expect(u.status, u.text).toBe(200);
      expect(JSON.parse(u.text)).toEqual({ bytes: TOTAL, sha256: EXPECTED_SHA256, sub: 'alice' });
      const d = await download(alice, `${base}/files/source`);
      expect(d.statusCode).toBe(200);
      expect(await hashOf(d)).toEqual({ bytes: TOTAL, sha256: EXPECTED_SHA256 });
    };
    let first: number;
    try {
      await round();
      first = growth();
      await round();
      await round();
    } finally {
      clearInterval(sampler);
    }
    const total = growth();
    process.stdout.write(
      `gateway memory: baseline RSS ${(baseline / MiB).toFixed(1)} MiB; peak growth ${(first / MiB).toFixed(1)} MiB ` +
        `after 100 MiB up + 100 MiB down, ${(total / MiB).toFixed(1)} MiB after 3 times that\n`,
    );
    // Holding one body would take 100 MiB. What is measured is the working set of Node's
    // streams and garbage collector: a bare node:http piping proxy grows about 40 MiB too.
    expect(first).toBeLessThan(60 * MiB);
    expect(total).toBeLessThan(60 * MiB);
  });
});
