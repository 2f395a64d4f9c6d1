// `npm run bench`: bare Express and applink (SQLite, then PostgreSQL) measured side by
// side in alternation (bare, applink, bare, applink, ...) with the same pre-signed
// requests, from a load generator in its own process on its own core.
//
// Environment (all optional): BENCH_QUICK=1 (a short run for trying things),
// BENCH_ROUNDS, BENCH_REQUESTS, BENCH_DANCES, BENCH_WARMUP, BENCH_CONCURRENCY,
// BENCH_DB=sqlite,pg, BENCH_SCENARIOS=get-hmac,get-rsa,post-hmac,dance,gateway, BENCH_PIN=0 (no
// taskset), BENCH_CPU_PROF=1 (applink and the yardsticks under node --cpu-prof; profiles in BENCH_PROF_DIR,
// default ./bench-profiles), BENCH_NODE_ARGS (more node options for applink), BENCH_LOG_LEVEL (applink's log level, default info),
// BENCH_PG_URL (PostgreSQL server, default postgres://postgres@127.0.0.1:5432/test),
// BENCH_COMPARE_DIR (another built checkout of applink with the same migrations, run beside
// this one on the same database and measured in the same alternation: an A/B of two builds
// that the machine's load cannot tell apart; API and gateway scenarios).
import { must } from './lib/must';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import {
  CALLBACK,
  ROOT,
  dance,
  pgDb,
  pgReachable,
  seedThroughCli,
  signIn,
  sqliteDb,
  startApplink,
  type Applink,
  type Db,
  type Seeded,
} from './lib/applink';
import { Generator, type Measured } from './lib/generator';
import { freePort, start, stop, waitForHttp } from './lib/proc';
import { fmt, markdownTable, median } from './lib/stats';
import type { Job, Target } from './loadgen';
import type { TokenCreds } from './lib/oauth';

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const num = (name: string, dflt: number, quickDflt: number) => Number(env[name] ?? (quick ? quickDflt : dflt));

export const OPTIONS = {
  rounds: num('BENCH_ROUNDS', 3, 2),
  requests: num('BENCH_REQUESTS', 12_000, 3_000),
  dances: num('BENCH_DANCES', 600, 150),
  warmup: num('BENCH_WARMUP', 3_000, 1_000),
  concurrency: num('BENCH_CONCURRENCY', 16, 16),
  dbs: (env.BENCH_DB ?? 'sqlite,pg').split(',').filter(Boolean) as Array<'sqlite' | 'pg'>,
  scenarios: (env.BENCH_SCENARIOS ?? 'get-hmac,get-rsa,post-hmac,dance,gateway').split(',').filter(Boolean),
  pin: env.BENCH_PIN !== '0',
  cpuProf: env.BENCH_CPU_PROF === '1',
  profDir: resolve(env.BENCH_PROF_DIR ?? 'bench-profiles'),
  logLevel: env.BENCH_LOG_LEVEL ?? 'info',
  compareBin: env.BENCH_COMPARE_DIR ? join(resolve(env.BENCH_COMPARE_DIR), 'bin', 'applink.js') : null,
};

/** Server processes on core 0, the load generator on core 1. */
export const SERVER_CORE = OPTIONS.pin ? 0 : null;
export const GENERATOR_CORE = OPTIONS.pin ? 1 : null;

const SCENARIO_NAMES: Record<string, string> = {
  'get-hmac': 'GET /myself HMAC-SHA1',
  'get-rsa': 'GET /myself RSA-SHA1',
  'post-hmac': 'POST /myself form HMAC-SHA1',
  dance: 'dance (4 HTTP legs) HMAC-SHA1',
  gateway: 'GET via the gateway HMAC-SHA1',
};

/**
 * The gateway row's upstream is the bare Express yardstick itself, behind this route prefix:
 * side A calls it directly, side B makes the same signed call through applink's gateway,
 * which verifies it and forwards it with a freshly signed identity assertion.
 */
export const GATEWAY_PREFIX = '/upstream';

export interface Row {
  db: string;
  scenario: string;
  /** bare Express (for the gateway: a call straight to the upstream, itself bare Express) */
  bare: Measured[];
  applink: Measured[];
  /** raw node:http answering the same JSON (API rows) */
  raw?: Measured[];
  /** the bare Node reverse proxy in front of the same upstream (gateway row) */
  proxy?: Measured[];
  /** the build in BENCH_COMPARE_DIR, measured in the same alternation */
  compare?: Measured[];
}

export function machineDescription(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

export const loadNote = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;

export interface Yardstick {
  pid: number;
  target: Target;
  stop(): Promise<void>;
}

/** Starts one of the yardsticks (bench/bare-*.js) on the server core. */
async function startYardstick(script: string, args: string[] = []): Promise<Yardstick> {
  const port = await freePort();
  const name = script.replace(/\.js$/, '');
  const child = start(
    SERVER_CORE,
    process.execPath,
    [...profArgs(name), join(__dirname, script), String(port), ...args],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  return { pid: must(child.pid, 'the process id'), target: { host: '127.0.0.1', port }, stop: () => stop(child) };
}

/** Bare Express 5 answering the same requests with fixed bodies. */
export const startBare = (): Promise<Yardstick> => startYardstick('bare-express.js');
/** Raw node:http answering the same requests with the same bytes. */
export const startRawNode = (): Promise<Yardstick> => startYardstick('bare-node.js');
/** A bare Node reverse proxy: GATEWAY_PREFIX stripped, forwarded to `upstream`. */
export const startBareProxy = (upstream: Target): Promise<Yardstick> =>
  startYardstick('bare-proxy.js', [GATEWAY_PREFIX, `http://${upstream.host}:${upstream.port}`]);

/** The child environment for applink: this run's database and key, nothing else inherited. */
export function applinkEnv(db: Db, secretKey: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('APPLINK_')) e[k] = v;
  return {
    ...e,
    APPLINK_DATABASE_URL: db.url,
    APPLINK_SECRET_KEY: secretKey,
    APPLINK_LOG_LEVEL: OPTIONS.logLevel,
    ...extra,
  };
}

/** Node options for an applink server: BENCH_NODE_ARGS, and the CPU profiler when asked. */
export const profArgs = (name: string): string[] => {
  const extra = (env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  if (!OPTIONS.cpuProf) return extra;
  mkdirSync(OPTIONS.profDir, { recursive: true });
  return [
    ...extra,
    '--cpu-prof',
    `--cpu-prof-dir=${OPTIONS.profDir}`,
    `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`,
  ];
};

function job(
  scenario: string,
  target: Target,
  count: number,
  seeded: Seeded,
  tokens: { hmac: TokenCreds; rsa: TokenCreds },
  sessions: string[],
  side: 'bare' | 'raw' | 'proxy' | 'applink',
): Job {
  const base = { target, count, concurrency: OPTIONS.concurrency };
  switch (scenario) {
    case 'gateway':
      return {
        ...base,
        kind: 'signed',
        method: 'GET',
        path: `${side === 'applink' || side === 'proxy' ? GATEWAY_PREFIX : ''}/rest/api/1/myself`,
        consumer: seeded.hmac,
        token: tokens.hmac,
      };
    case 'get-hmac':
      return {
        ...base,
        kind: 'signed',
        method: 'GET',
        path: '/rest/api/1/myself',
        consumer: seeded.hmac,
        token: tokens.hmac,
      };
    case 'get-rsa':
      return {
        ...base,
        kind: 'signed',
        method: 'GET',
        path: '/rest/api/1/myself',
        consumer: seeded.rsa,
        token: tokens.rsa,
      };
    case 'post-hmac':
      return {
        ...base,
        kind: 'signed',
        method: 'POST',
        path: '/rest/api/1/myself',
        form: { displayName: 'Bench User' },
        consumer: seeded.hmac,
        token: tokens.hmac,
      };
    case 'dance':
      return { ...base, kind: 'dance', consumer: seeded.hmac, callback: CALLBACK, sessions };
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

/** Alternates: warm every side up, then A, B, (C, ...) A, B, ... for every round. */
export async function alternateMany(
  gen: Generator,
  sides: Array<{ pid: number; make: (count: number) => Job; name: string }>,
  count: number,
  warmup: number,
  label: string,
): Promise<Measured[][]> {
  for (const s of sides) await gen.phase(s.make(warmup), s.pid);
  const out = sides.map(() => [] as Measured[]);
  for (let r = 0; r < OPTIONS.rounds; r++) {
    for (const [i, s] of sides.entries()) {
      const m = await gen.phase(s.make(count), s.pid);
      must(out[i], 'the side').push(m);
      process.stderr.write(
        `  ${label} round ${r + 1} ${s.name}: ${fmt.int(m.rate)}/s p99 ${fmt.ms(m.p99)} ms cpu ${fmt.us(m.cpuPerRequest)} µs` +
          (m.failures ? `  FAILURES ${m.failures}: ${String(m.firstFailure)}` : '') +
          '\n',
      );
    }
  }
  return out;
}

/** Two sides: warm both up, then bare, applink, bare, applink, ... for every round. */
export async function alternate(
  gen: Generator,
  a: { pid: number; make: (count: number) => Job },
  b: { pid: number; make: (count: number) => Job },
  count: number,
  warmup: number,
  label: string,
): Promise<{ a: Measured[]; b: Measured[] }> {
  const [ma, mb] = await alternateMany(
    gen,
    [
      { ...a, name: 'A' },
      { ...b, name: 'B' },
    ],
    count,
    warmup,
    label,
  );
  return { a: must(ma, 'side A'), b: must(mb, 'side B') };
}

/** Median of the per-round ratios of `xs` to `ys` (each pair measured back to back). */
const ratio = (xs: Measured[], ys: Measured[]) =>
  median(xs.map((m, i) => m.rate / must(ys[i], 'the paired phase').rate));
const med = (xs: Measured[], f: (m: Measured) => number) => median(xs.map(f));

/** The API rows: applink against bare Express and raw node:http, measured in one run. */
export function report(rows: Row[]): string {
  const header = [
    'database',
    'scenario',
    'req/s Express / node / applink',
    'vs Express',
    'vs node:http',
    'p50 ms Express / node / applink',
    'p99 ms Express / node / applink',
    'p99 vs Express',
    'CPU µs/req Express / node / applink',
  ];
  const three = (r: Row, f: (m: Measured) => number, p: (n: number) => string) =>
    `${p(med(r.bare, f))} / ${r.raw ? p(med(r.raw, f)) : '-'} / ${p(med(r.applink, f))}`;
  const body = rows
    .filter((r) => !r.proxy)
    .map((r) => [
      r.db,
      r.scenario,
      three(r, (m) => m.rate, fmt.int),
      fmt.x(ratio(r.applink, r.bare)),
      r.raw ? fmt.x(ratio(r.applink, r.raw)) : '-',
      three(r, (m) => m.p50, fmt.ms),
      three(r, (m) => m.p99, fmt.ms),
      fmt.x(med(r.applink, (m) => m.p99) / med(r.bare, (m) => m.p99)),
      three(r, (m) => m.cpuPerRequest, fmt.us),
    ]);
  return markdownTable(header, body);
}

/** The gateway rows: a signed call through the gateway against the bare proxy and a direct call. */
export function gatewayReport(rows: Row[]): string {
  const header = [
    'database',
    'req/s direct / bare proxy / gateway',
    'vs bare proxy',
    'vs direct',
    'p50 ms direct / proxy / gateway',
    'p99 ms direct / proxy / gateway',
    'CPU µs/req upstream / proxy / gateway',
  ];
  const three = (r: Row, f: (m: Measured) => number, p: (n: number) => string) =>
    `${p(med(r.bare, f))} / ${p(med(must(r.proxy, 'the proxy phases'), f))} / ${p(med(r.applink, f))}`;
  const body = rows
    .filter((r) => r.proxy)
    .map((r) => [
      r.db,
      three(r, (m) => m.rate, fmt.int),
      fmt.x(ratio(r.applink, must(r.proxy, 'the proxy phases'))),
      fmt.x(ratio(r.applink, r.bare)),
      three(r, (m) => m.p50, fmt.ms),
      three(r, (m) => m.p99, fmt.ms),
      three(r, (m) => m.cpuPerRequest, fmt.us),
    ]);
  return body.length ? markdownTable(header, body) : '';
}

/** BENCH_COMPARE_DIR: the other build against this one, scenario by scenario. */
export function compareReport(rows: Row[]): string {
  const header = [
    'database',
    'scenario',
    'req/s this / compared build',
    'compared vs this',
    'CPU µs/req this / compared',
  ];
  const body = rows.flatMap((r) =>
    r.compare
      ? [
          [
            r.db,
            r.scenario,
            `${fmt.int(med(r.applink, (m) => m.rate))} / ${fmt.int(med(r.compare, (m) => m.rate))}`,
            fmt.x(ratio(r.compare, r.applink)),
            `${fmt.us(med(r.applink, (m) => m.cpuPerRequest))} / ${fmt.us(med(r.compare, (m) => m.cpuPerRequest))}`,
          ],
        ]
      : [],
  );
  return body.length ? `compared build: ${String(OPTIONS.compareBin)}\n${markdownTable(header, body)}` : '';
}

export function ratioOf(
  rows: Row[],
  db: string,
  scenario: string,
): { ratio: number; p99Ratio: number; rawRatio: number; proxyRatio: number } | null {
  const r = rows.find((x) => x.db === db && x.scenario === SCENARIO_NAMES[scenario]);
  if (!r) return null;
  return {
    ratio: ratio(r.applink, r.bare),
    p99Ratio: med(r.applink, (m) => m.p99) / med(r.bare, (m) => m.p99),
    rawRatio: r.raw ? ratio(r.applink, r.raw) : NaN,
    proxyRatio: r.proxy ? ratio(r.applink, r.proxy) : NaN,
  };
}

/** The targets of issue 14 (ratios measured in one run). */
function targets(rows: Row[]): string[] {
  const out: string[] = [];
  const check = (label: string, value: number | undefined, ok: (v: number) => boolean, goal: string) => {
    if (value === undefined || !Number.isFinite(value)) return;
    out.push(`${ok(value) ? 'met   ' : 'MISSED'} ${label}: ${fmt.x(value)} (target ${goal})`);
  };
  const sg = ratioOf(rows, 'SQLite', 'get-hmac');
  check('HMAC-SHA1 GET on SQLite, throughput vs bare Express', sg?.ratio, (v) => v >= 1, '≥ 1.0×');
  check('HMAC-SHA1 GET on SQLite, p99 vs bare Express', sg?.p99Ratio, (v) => v <= 1.5, '≤ 1.5×');
  check('RSA-SHA1 GET on SQLite, throughput', ratioOf(rows, 'SQLite', 'get-rsa')?.ratio, (v) => v >= 0.85, '≥ 0.85×');
  check('form POST on SQLite, throughput', ratioOf(rows, 'SQLite', 'post-hmac')?.ratio, (v) => v >= 0.8, '≥ 0.8×');
  const pg = ratioOf(rows, 'PostgreSQL', 'get-hmac');
  check('HMAC-SHA1 GET on PostgreSQL, throughput', pg?.ratio, (v) => v >= 0.7, '≥ 0.7×');
  check('HMAC-SHA1 GET on PostgreSQL, p99', pg?.p99Ratio, (v) => v <= 1.5, '≤ 1.5×');
  for (const db of ['SQLite', 'PostgreSQL']) {
    check(
      `gateway GET on ${db} vs the bare Node proxy`,
      ratioOf(rows, db, 'gateway')?.proxyRatio,
      (v) => v >= 0.8,
      '≥ 0.8×',
    );
  }
  return out;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'applink-bench-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  let failed = false;
  process.stderr.write(`applink bench: ${machineDescription()}; ${loadNote()}\n`);
  process.stderr.write(
    `  ${OPTIONS.rounds} rounds × ${OPTIONS.requests} requests (${OPTIONS.dances} dances), concurrency ${OPTIONS.concurrency}, ` +
      `${OPTIONS.pin ? 'servers pinned to core 0, load generator to core 1' : 'no pinning'}\n`,
  );
  try {
    const rsa = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const secretKey = randomBytes(32).toString('base64');
    const bare = await startBare();
    cleanups.push(() => bare.stop());
    const raw = await startRawNode();
    cleanups.push(() => raw.stop());
    const proxy = await startBareProxy(bare.target);
    cleanups.push(() => proxy.stop());
    const gen = Generator.start(GENERATOR_CORE);
    cleanups.push(() => gen.close());

    const rows: Row[] = [];
    for (const kind of OPTIONS.dbs) {
      if (kind === 'pg' && !(await pgReachable())) {
        process.stderr.write('  PostgreSQL is not reachable: skipping the PostgreSQL rows\n');
        continue;
      }
      const db = kind === 'sqlite' ? sqliteDb(dir) : await pgDb();
      cleanups.push(() => db.drop());
      const dbName = kind === 'sqlite' ? 'SQLite' : 'PostgreSQL';
      const appPort = await freePort();
      const appEnv = applinkEnv(db, secretKey, {
        // gateway routes need a base URL: the address this applink will listen on
        APPLINK_PORT: String(appPort),
        APPLINK_BASE_URL: `http://127.0.0.1:${appPort}`,
        APPLINK_GATEWAY_ROUTES: `${GATEWAY_PREFIX}=http://127.0.0.1:${bare.target.port}`,
      });
      const seeded = await seedThroughCli(appEnv, dir, rsa);
      const app: Applink = await startApplink(`applink-${kind}`, appEnv, SERVER_CORE, dir, profArgs(`applink-${kind}`));
      cleanups.push(() => app.stop());
      // The other build (BENCH_COMPARE_DIR): same database, its own port and base URL.
      let other: { pid: number; target: Target } | null = null;
      if (OPTIONS.compareBin) {
        const otherPort = await freePort();
        const otherApp = await startApplink(
          `compare-${kind}`,
          { ...appEnv, APPLINK_PORT: String(otherPort), APPLINK_BASE_URL: `http://127.0.0.1:${otherPort}` },
          SERVER_CORE,
          dir,
          [],
          OPTIONS.compareBin,
        );
        cleanups.push(() => otherApp.stop());
        other = { pid: otherApp.pid, target: { host: '127.0.0.1', port: otherApp.port } };
      }
      const sessions: string[] = [];
      for (let i = 0; i < OPTIONS.concurrency; i++) sessions.push(await signIn(app.origin));
      const tokens = {
        hmac: await dance(app.origin, seeded.hmac, must(sessions[0], 'a session')),
        rsa: await dance(app.origin, seeded.rsa, must(sessions[0], 'a session')),
      };
      const appTarget: Target = { host: '127.0.0.1', port: app.port };
      for (const scenario of OPTIONS.scenarios) {
        const label = `${dbName} ${SCENARIO_NAMES[scenario] ?? scenario}`;
        process.stderr.write(`${label}\n`);
        const dances = scenario === 'dance';
        const count = dances ? OPTIONS.dances : OPTIONS.requests;
        const warm = dances ? Math.ceil(OPTIONS.dances / 4) : OPTIONS.warmup;
        const gateway = scenario === 'gateway';
        const side = (
          name: string,
          y: { pid: number; target: Target },
          kind: 'bare' | 'raw' | 'proxy' | 'applink',
        ) => ({
          name,
          pid: y.pid,
          make: (n: number) => job(scenario, y.target, n, seeded, tokens, sessions, kind),
        });
        const sides = [
          side(gateway ? 'direct' : 'Express', bare, 'bare'),
          ...(gateway ? [side('bare proxy', proxy, 'proxy')] : dances ? [] : [side('node:http', raw, 'raw')]),
          side(gateway ? 'gateway' : 'applink', { pid: app.pid, target: appTarget }, 'applink'),
          ...(other && !dances ? [side('compare', other, 'applink')] : []),
        ];
        const r = await alternateMany(gen, sides, count, warm, label);
        if (r.flat().some((m) => m.failures > 0)) failed = true;
        const compared = other && !dances ? r.pop() : undefined;
        rows.push({
          db: dbName,
          scenario: SCENARIO_NAMES[scenario] ?? scenario,
          bare: must(r[0], 'the bare phases'),
          applink: must(r.at(-1), 'the applink phases'),
          ...(r.length === 3 &&
            (gateway ? { proxy: must(r[1], 'the proxy phases') } : { raw: must(r[1], 'the node:http phases') })),
          ...(compared && { compare: compared }),
        });
      }
      await app.stop();
    }
    const all = rows.flatMap((r) => [...r.bare, ...r.applink]);
    const others = median(all.map((m) => m.otherCores));
    const genCpu = median(rows.flatMap((r) => r.applink.map((m) => m.generatorCpuPerRequest)));
    process.stdout.write(`\n${report(rows)}\n\n`);
    const g = gatewayReport(rows);
    if (g) process.stdout.write(`${g}\n\n`);
    const c = compareReport(rows);
    if (c) process.stdout.write(`${c}\n\n`);
    process.stdout.write(
      `machine: ${machineDescription()}\n` +
        `load: ${loadNote()}; other processes used a median ${others.toFixed(2)} cores during the phases` +
        ` (PostgreSQL's own backends count here on its rows); load generator ${fmt.us(genCpu)} µs CPU per request\n` +
        `ratios are medians of per-round applink/bare pairs; ${OPTIONS.rounds} rounds, ${OPTIONS.requests} requests per phase, ` +
        `${OPTIONS.concurrency} connections\n\n`,
    );
    for (const line of targets(rows)) process.stdout.write(`${line}\n`);
    if (failed) process.stdout.write('\nSOME REQUESTS FAILED (see above): the figures are not valid\n');
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}

export { ROOT };
