// `npm run bench`: bare Express and applink (SQLite, then PostgreSQL) measured side by
// side in alternation (bare, applink, bare, applink, ...) with the same pre-signed
// requests, from a load generator in its own process on its own core.
//
// Environment (all optional): BENCH_QUICK=1 (a short run for trying things),
// BENCH_ROUNDS, BENCH_REQUESTS, BENCH_DANCES, BENCH_WARMUP, BENCH_CONCURRENCY,
// BENCH_DB=sqlite,pg, BENCH_SCENARIOS=get-hmac,get-rsa,post-hmac,dance,gateway, BENCH_PIN=0 (no
// taskset), BENCH_CPU_PROF=1 (applink under node --cpu-prof; profiles in BENCH_PROF_DIR,
// default ./bench-profiles), BENCH_NODE_ARGS (more node options for applink), BENCH_LOG_LEVEL (applink's log level, default info),
// BENCH_PG_URL (PostgreSQL server, default postgres://postgres@127.0.0.1:5432/test).
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
};

/** Server processes on core 0, the load generator on core 1. */
export const SERVER_CORE = OPTIONS.pin ? 0 : null;
export const GENERATOR_CORE = OPTIONS.pin ? 1 : null;

const SCENARIO_NAMES: Record<string, string> = {
  'get-hmac': 'GET /myself HMAC-SHA1',
  'get-rsa': 'GET /myself RSA-SHA1',
  'post-hmac': 'POST /myself form HMAC-SHA1',
  dance: 'dance (4 HTTP legs) HMAC-SHA1',
  gateway: 'GET via the gateway HMAC-SHA1 (vs direct to the upstream)',
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
  bare: Measured[];
  applink: Measured[];
}

export function machineDescription(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

export const loadNote = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;

/** Starts the bare Express yardstick on the server core. */
export async function startBare(): Promise<{ pid: number; target: Target; stop(): Promise<void> }> {
  const port = await freePort();
  const child = start(SERVER_CORE, process.execPath, [join(__dirname, 'bare-express.js'), String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  return { pid: child.pid!, target: { host: '127.0.0.1', port }, stop: () => stop(child) };
}

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
  side: 'bare' | 'applink',
): Job {
  const base = { target, count, concurrency: OPTIONS.concurrency };
  switch (scenario) {
    case 'gateway':
      return {
        ...base,
        kind: 'signed',
        method: 'GET',
        path: `${side === 'applink' ? GATEWAY_PREFIX : ''}/rest/api/1/myself`,
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

/** Alternates: warm both up, then bare, applink, bare, applink, ... for every round. */
export async function alternate(
  gen: Generator,
  a: { pid: number; make: (count: number) => Job },
  b: { pid: number; make: (count: number) => Job },
  count: number,
  warmup: number,
  label: string,
): Promise<{ a: Measured[]; b: Measured[] }> {
  await gen.phase(a.make(warmup), a.pid);
  await gen.phase(b.make(warmup), b.pid);
  const out = { a: [] as Measured[], b: [] as Measured[] };
  for (let r = 0; r < OPTIONS.rounds; r++) {
    for (const [side, s] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const m = await gen.phase(s.make(count), s.pid);
      out[side].push(m);
      process.stderr.write(
        `  ${label} round ${r + 1} ${side === 'a' ? 'A' : 'B'}: ${fmt.int(m.rate)}/s p99 ${fmt.ms(m.p99)} ms cpu ${fmt.us(m.cpuPerRequest)} µs` +
          (m.failures ? `  FAILURES ${m.failures}: ${String(m.firstFailure)}` : '') +
          '\n',
      );
    }
  }
  return out;
}

export function report(rows: Row[]): string {
  const header = [
    'database',
    'scenario',
    'bare req/s',
    'applink req/s',
    'ratio',
    'p50 ms bare / applink',
    'p99 ms bare / applink',
    'p99 ratio',
    'CPU µs/req bare / applink',
  ];
  const body = rows.map((r) => {
    const ratio = median(r.applink.map((m, i) => m.rate / r.bare[i]!.rate));
    const p99a = median(r.applink.map((m) => m.p99));
    const p99b = median(r.bare.map((m) => m.p99));
    return [
      r.db,
      r.scenario,
      fmt.int(median(r.bare.map((m) => m.rate))),
      fmt.int(median(r.applink.map((m) => m.rate))),
      fmt.x(ratio),
      `${fmt.ms(median(r.bare.map((m) => m.p50)))} / ${fmt.ms(median(r.applink.map((m) => m.p50)))}`,
      `${fmt.ms(p99b)} / ${fmt.ms(p99a)}`,
      fmt.x(p99a / p99b),
      `${fmt.us(median(r.bare.map((m) => m.cpuPerRequest)))} / ${fmt.us(median(r.applink.map((m) => m.cpuPerRequest)))}`,
    ];
  });
  return markdownTable(header, body);
}

export function ratioOf(rows: Row[], db: string, scenario: string): { ratio: number; p99Ratio: number } | null {
  const r = rows.find((x) => x.db === db && x.scenario === SCENARIO_NAMES[scenario]);
  if (!r) return null;
  return {
    ratio: median(r.applink.map((m, i) => m.rate / r.bare[i]!.rate)),
    p99Ratio: median(r.applink.map((m) => m.p99)) / median(r.bare.map((m) => m.p99)),
  };
}

function targets(rows: Row[]): string[] {
  const out: string[] = [];
  const check = (label: string, value: number | undefined, ok: (v: number) => boolean, goal: string) => {
    if (value === undefined || !Number.isFinite(value)) return;
    out.push(`${ok(value) ? 'met   ' : 'MISSED'} ${label}: ${fmt.x(value)} (target ${goal})`);
  };
  const sg = ratioOf(rows, 'SQLite', 'get-hmac');
  check('HMAC-SHA1 GET on SQLite, throughput', sg?.ratio, (v) => v >= 0.75, '≥ 0.75×');
  check('HMAC-SHA1 GET on SQLite, p99', sg?.p99Ratio, (v) => v <= 2, '≤ 2×');
  check('RSA-SHA1 GET on SQLite, throughput', ratioOf(rows, 'SQLite', 'get-rsa')?.ratio, (v) => v >= 0.65, '≥ 0.65×');
  check(
    'HMAC-SHA1 GET on PostgreSQL, throughput',
    ratioOf(rows, 'PostgreSQL', 'get-hmac')?.ratio,
    (v) => v >= 0.5,
    '≥ 0.5×',
  );
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
      const sessions: string[] = [];
      for (let i = 0; i < OPTIONS.concurrency; i++) sessions.push(await signIn(app.origin));
      const tokens = {
        hmac: await dance(app.origin, seeded.hmac, sessions[0]!),
        rsa: await dance(app.origin, seeded.rsa, sessions[0]!),
      };
      const appTarget: Target = { host: '127.0.0.1', port: app.port };
      for (const scenario of OPTIONS.scenarios) {
        const label = `${dbName} ${SCENARIO_NAMES[scenario] ?? scenario}`;
        process.stderr.write(`${label}\n`);
        const dances = scenario === 'dance';
        const count = dances ? OPTIONS.dances : OPTIONS.requests;
        const warm = dances ? Math.ceil(OPTIONS.dances / 4) : OPTIONS.warmup;
        const r = await alternate(
          gen,
          { pid: bare.pid, make: (n) => job(scenario, bare.target, n, seeded, tokens, sessions, 'bare') },
          { pid: app.pid, make: (n) => job(scenario, appTarget, n, seeded, tokens, sessions, 'applink') },
          count,
          warm,
          label,
        );
        if ([...r.a, ...r.b].some((m) => m.failures > 0)) failed = true;
        rows.push({ db: dbName, scenario: SCENARIO_NAMES[scenario] ?? scenario, bare: r.a, applink: r.b });
      }
      await app.stop();
    }
    const all = rows.flatMap((r) => [...r.bare, ...r.applink]);
    const others = median(all.map((m) => m.otherCores));
    const genCpu = median(rows.flatMap((r) => r.applink.map((m) => m.generatorCpuPerRequest)));
    process.stdout.write(`\n${report(rows)}\n\n`);
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
