// `npm run bench:scale`: does applink stay as fast with a big database, and flat over time?
//  1. Two applink servers side by side, one on an empty database and one holding
//     1,000,000 access tokens, 100,000 users and 10,000 consumers (bulk-filled in one
//     transaction), measured in alternation with the same signed call (HMAC-SHA1 GET).
//  2. A sustained run against the full database: the nonce table's size and the server's
//     RSS sampled throughout. With the default 300 s timestamp window nothing could be
//     swept within five minutes, so this run uses a 60 s window and a 10 s sweep
//     interval (BENCH_WINDOW, BENCH_SWEEP): the table must level off at about
//     rate × (window + interval) and stay there, and memory must not grow.
//
// Environment: BENCH_QUICK=1 (100,000 tokens, 60 s sustained run, for trying things),
// BENCH_DB=sqlite,pg (default sqlite,pg), BENCH_TOKENS, BENCH_CONSUMERS, BENCH_USERS,
// BENCH_SUSTAIN (seconds, default 300), BENCH_SAMPLE (seconds between samples, default 15),
// BENCH_WINDOW (default 60), BENCH_SWEEP (default 10), and those of `npm run bench`
// (BENCH_ROUNDS, BENCH_REQUESTS, BENCH_WARMUP, BENCH_CONCURRENCY, BENCH_PIN, BENCH_CPU_PROF).
import { must } from './lib/must';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dance, pgDb, pgReachable, seedThroughCli, signIn, sqliteDb, startApplink, type Db } from './lib/applink';
import { fill, nonceTable } from './lib/fill';
import { Generator } from './lib/generator';
import { rssBytes } from './lib/proc';
import { fmt, markdownTable, median } from './lib/stats';
import {
  GENERATOR_CORE,
  OPTIONS,
  SERVER_CORE,
  alternate,
  applinkEnv,
  loadNote,
  machineDescription,
  profArgs,
} from './run';
import type { Job } from './loadgen';
import type { TokenCreds } from './lib/oauth';

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const num = (name: string, dflt: number, quickDflt: number) => Number(env[name] ?? (quick ? quickDflt : dflt));
const SCALE = {
  tokens: num('BENCH_TOKENS', 1_000_000, 100_000),
  users: num('BENCH_USERS', 100_000, 10_000),
  consumers: num('BENCH_CONSUMERS', 10_000, 1_000),
  sustain: num('BENCH_SUSTAIN', 300, 60),
  sample: num('BENCH_SAMPLE', 15, 5),
  window: num('BENCH_WINDOW', 60, 10),
  sweep: num('BENCH_SWEEP', 10, 2),
};

/** Least-squares line through (x, y) points. */
function fit(points: Array<[number, number]>): { slope: number; mean: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return { slope: den === 0 ? 0 : num / den, mean: my };
}

const mib = (b: number) => (Number.isFinite(b) ? (b / 2 ** 20).toFixed(1) : '-');

async function scaleFor(kind: 'sqlite' | 'pg', dir: string, gen: Generator, secretKey: string, out: string[]) {
  const name = kind === 'sqlite' ? 'SQLite' : 'PostgreSQL';
  const rsa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const dbs: Db[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const empty = kind === 'sqlite' ? sqliteDb(dir, 'empty') : await pgDb();
    const full = kind === 'sqlite' ? sqliteDb(dir, 'full') : await pgDb();
    dbs.push(empty, full);
    const seeded = {
      empty: await seedThroughCli(applinkEnv(empty, secretKey), dir, rsa),
      full: await seedThroughCli(applinkEnv(full, secretKey), dir, rsa),
    };
    process.stderr.write(
      `${name}: filling ${fmt.int(SCALE.tokens)} access tokens, ${fmt.int(SCALE.users)} users, ${fmt.int(SCALE.consumers)} consumers…\n`,
    );
    const ms = await fill(full, secretKey, {
      consumers: SCALE.consumers - 2,
      users: SCALE.users,
      tokens: SCALE.tokens,
    });
    process.stderr.write(`  filled in ${(ms / 1000).toFixed(1)} s (${fmt.int((SCALE.tokens * 1000) / ms)} tokens/s)\n`);

    const side = async (label: 'empty' | 'full', db: Db) => {
      const app = await startApplink(
        `scale-${kind}-${label}`,
        applinkEnv(db, secretKey),
        SERVER_CORE,
        dir,
        profArgs(`scale-${kind}-${label}`),
      );
      stops.push(() => app.stop());
      const token: TokenCreds = await dance(app.origin, seeded[label].hmac, await signIn(app.origin));
      const make = (count: number): Job => ({
        kind: 'signed',
        target: { host: '127.0.0.1', port: app.port },
        method: 'GET',
        path: '/rest/api/1/myself',
        consumer: seeded[label].hmac,
        token,
        count,
        concurrency: OPTIONS.concurrency,
      });
      return { app, pid: app.pid, make };
    };
    const a = await side('empty', empty);
    const b = await side('full', full);
    process.stderr.write(`${name} signed GET, empty vs ${fmt.int(SCALE.tokens)} tokens\n`);
    const r = await alternate(gen, a, b, OPTIONS.requests, OPTIONS.warmup, `${name} empty/full`);
    const ratio = median(r.b.map((m, i) => m.rate / must(r.a[i], 'the paired phase').rate));
    const row = (label: string, ms: typeof r.a, x: string) => [
      name,
      label,
      fmt.int(median(ms.map((m) => m.rate))),
      fmt.ms(median(ms.map((m) => m.p50))),
      fmt.ms(median(ms.map((m) => m.p99))),
      fmt.us(median(ms.map((m) => m.cpuPerRequest))),
      x,
    ];
    out.push(
      markdownTable(
        ['database', 'stored access tokens', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'vs empty'],
        [row('0', r.a, '1.00×'), row(fmt.int(SCALE.tokens), r.b, fmt.x(ratio))],
      ),
      `${Math.abs(1 - ratio) <= 0.1 ? 'met   ' : 'MISSED'} ${name}: ${fmt.int(SCALE.tokens)} tokens within 10 % of empty: ${fmt.x(ratio)}`,
      '',
    );
    await a.app.stop();
    await b.app.stop();

    // The sustained run, on the full database, with a window short enough to sweep in it.
    const app = await startApplink(
      `sustained-${kind}`,
      applinkEnv(full, secretKey, {
        APPLINK_TIMESTAMP_WINDOW: String(SCALE.window),
        APPLINK_SWEEP_INTERVAL: String(SCALE.sweep),
      }),
      SERVER_CORE,
      dir,
    );
    stops.push(() => app.stop());
    const cookie = await signIn(app.origin);
    const tokens: TokenCreds[] = [];
    for (let i = 0; i < 4; i++) tokens.push(await dance(app.origin, seeded.full.hmac, cookie));
    process.stderr.write(
      `${name} sustained run: ${SCALE.sustain} s, window ${SCALE.window} s, sweep every ${SCALE.sweep} s\n`,
    );
    const samples: Array<{ t: number; rows: number; stale: number; bytes: number; rss: number }> = [];
    const t0 = Date.now();
    // A nonce is sweepable once its timestamp is more than window + 1 s old; it must be
    // gone by the next sweep. Rows older than that plus the interval and a 5 s margin are
    // "stale": any at all means the sweep is not keeping up.
    const staleAge = SCALE.window + 1 + SCALE.sweep + 5;
    const sample = async () => {
      const n = await nonceTable(full, Math.floor(Date.now() / 1000) - staleAge);
      const s = { t: (Date.now() - t0) / 1000, ...n, rss: rssBytes(app.pid) };
      samples.push(s);
      process.stderr.write(
        `  t=${s.t.toFixed(0)} s nonces ${fmt.int(s.rows)} (stale ${fmt.int(s.stale)}, ${mib(s.bytes)} MiB) RSS ${mib(s.rss)} MiB\n`,
      );
    };
    await sample();
    const timer = setInterval(() => void sample(), SCALE.sample * 1000);
    const m = await gen.phase(
      {
        kind: 'sustained',
        target: { host: '127.0.0.1', port: app.port },
        path: '/rest/api/1/myself',
        consumer: seeded.full.hmac,
        tokens,
        durationMs: SCALE.sustain * 1000,
        concurrency: OPTIONS.concurrency,
      },
      app.pid,
    );
    clearInterval(timer);
    await sample();
    await app.stop();

    // Flat: once the first sweepable nonces have gone (window + two sweeps), no sample may
    // hold stale rows (the table is bounded by the window: its level follows the call
    // rate, about rate × (window + interval)), and the lines fitted through the table's
    // size and the RSS must not climb: over the settled span they may rise by at most
    // 20 % of their mean (an unswept table would grow by the whole call rate instead).
    const settled = samples.filter((x) => x.t >= SCALE.window + 2 * SCALE.sweep);
    const trend = (k: 'bytes' | 'rss') => {
      if (settled.length < 4) return { ok: false, text: 'too few samples after settling (run longer)' };
      const { slope, mean } = fit(settled.map((x) => [x.t, x[k]]));
      const span = must(settled.at(-1), 'the last sample').t - must(settled[0], 'the first sample').t;
      const rise = slope * span;
      return {
        ok: !Number.isFinite(mean) || rise <= 0.2 * mean,
        text: `mean ${mib(mean)} MiB, trend ${rise >= 0 ? '+' : '−'}${mib(Math.abs(rise))} MiB over ${span.toFixed(0)} s`,
      };
    };
    const stale = Math.max(0, ...settled.map((x) => x.stale));
    const level = settled.length ? settled.reduce((a, x) => a + x.rows, 0) / settled.length : NaN;
    const nv = {
      ok: settled.length >= 4 && stale === 0,
      text: `most stale rows in a sample ${fmt.int(stale)}; mean ${fmt.int(level)} rows = ${(level / m.rate).toFixed(0)} s of calls at the run's mean rate`,
    };
    const bv = trend('bytes');
    const rv = trend('rss');
    out.push(
      `${name} sustained: ${fmt.int(m.count)} calls in ${(m.durationMs / 1000).toFixed(0)} s (${fmt.int(m.rate)}/s, p99 ${fmt.ms(m.p99)} ms, ` +
        `${m.failures} failed${m.failures ? `: ${String(m.firstFailure)}` : ''}), window ${SCALE.window} s, sweep every ${SCALE.sweep} s`,
      markdownTable(
        ['t (s)', 'nonce rows', `of them older than ${staleAge} s`, 'nonce table MiB', 'server RSS MiB'],
        samples.map((s) => [s.t.toFixed(0), fmt.int(s.rows), fmt.int(s.stale), mib(s.bytes), mib(s.rss)]),
      ),
      `${nv.ok ? 'met   ' : 'MISSED'} ${name}: nonce rows bounded by the window, swept in time (${nv.text})`,
      `${bv.ok ? 'met   ' : 'MISSED'} ${name}: nonce table size flat after settling (${bv.text})`,
      `${rv.ok ? 'met   ' : 'MISSED'} ${name}: RSS flat after settling (${rv.text})`,
      '',
    );
    if (m.failures > 0) process.exitCode = 1;
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    for (const d of dbs) await d.drop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'applink-scale-'));
  process.stderr.write(`applink scale bench: ${machineDescription()}; ${loadNote()}\n`);
  const gen = Generator.start(GENERATOR_CORE);
  const out: string[] = [];
  try {
    const secretKey = randomBytes(32).toString('base64');
    for (const kind of OPTIONS.dbs) {
      if (kind === 'pg' && !(await pgReachable())) {
        process.stderr.write('PostgreSQL is not reachable: skipping it\n');
        continue;
      }
      await scaleFor(kind, dir, gen, secretKey, out);
    }
  } finally {
    await gen.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `\n${out.join('\n')}\nmachine: ${machineDescription()}\nload: ${loadNote()}\n` +
      `${OPTIONS.rounds} rounds × ${OPTIONS.requests} requests, ${OPTIONS.concurrency} connections, ` +
      `${OPTIONS.pin ? 'servers on core 0, load generator on core 1' : 'no pinning'}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:scale failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
