// A real applink server on a temporary SQLite file or a throw-away PostgreSQL database,
// listening on a free loopback port.
//
//   startTestServer()                                  SQLite
//   startTestServer({ APPLINK_BASE_URL: '…' })         SQLite, extra environment
//   startTestServer({ database: 'pg', env: { … } })    a fresh PostgreSQL database, dropped on stop()
//   startTestServer({ … env … }, { database: 'pg' })   the same, old-style first argument
//
// Suites that run on both databases: `describe.each(await testDatabases())(...)`.
import { mkdtempSync, rmSync } from 'node:fs';
import { OPERATOR } from '../../src/services/actor';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { startServer, type RunningServer } from '../../src/server';
import { createLogger } from '../../src/logger';
import { createTempPgDatabase, pgAvailable } from './pg';

export type TestDatabase = 'sqlite' | 'pg';

export interface TestServerOptions {
  /** 'sqlite' (default) or 'pg' (a temporary database on the test PostgreSQL server) */
  database?: TestDatabase;
  /** extra environment (APPLINK_*) for the server */
  env?: Record<string, string>;
  /** when given, the server logs at info level into this array (one parsed JSON object per line) */
  logs?: Array<Record<string, unknown>>;
}

export interface TestServer extends RunningServer {
  dir: string;
  env: Record<string, string>;
  database: TestDatabase;
  stop(): Promise<void>;
}

let notified = false;

/**
 * The databases every integration suite runs against: SQLite always, PostgreSQL when the
 * test server is reachable. Without it the PostgreSQL half is left out with a notice on
 * stderr; with CI=true an unreachable server throws (pgAvailable), failing the suite.
 */
export async function testDatabases(): Promise<TestDatabase[]> {
  if (await pgAvailable()) return ['sqlite', 'pg'];
  if (!notified) {
    notified = true;
    process.stderr.write('*** PostgreSQL variants of the integration suites were NOT run (see above) ***\n');
  }
  return ['sqlite'];
}

const isOptions = (o: object): o is TestServerOptions =>
  Object.keys(o).length > 0 && Object.keys(o).every((k) => k === 'database' || k === 'env' || k === 'logs');

export async function startTestServer(
  first: Record<string, string> | TestServerOptions = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const opts: TestServerOptions = isOptions(first) ? first : { ...options, env: { ...first, ...options.env } };
  const given = opts.env?.APPLINK_DATABASE_URL;
  const database: TestDatabase = given ? (given.startsWith('sqlite:') ? 'sqlite' : 'pg') : (opts.database ?? 'sqlite');
  const dir = mkdtempSync(join(tmpdir(), 'applink-test-'));
  let dropPg: (() => Promise<void>) | undefined;
  let databaseUrl = given ?? `sqlite:${join(dir, 'applink.sqlite')}`;
  if (database === 'pg' && !given) {
    const pg = await createTempPgDatabase();
    databaseUrl = pg.url;
    dropPg = () => pg.drop();
  }
  const env: Record<string, string> = {
    APPLINK_PORT: '0',
    APPLINK_HOST: '127.0.0.1',
    APPLINK_DATABASE_URL: databaseUrl,
    APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
    APPLINK_LOG_LEVEL: 'silent',
    ...opts.env,
  };
  const cleanup = async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropPg?.();
  };
  let running: RunningServer;
  try {
    const config = loadConfig(env);
    const logs = opts.logs;
    const logger = logs
      ? createLogger(
          { logLevel: 'info' },
          { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
        )
      : createLogger(config);
    running = await startServer(config, logger);
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    ...running,
    dir,
    env,
    database,
    async stop() {
      await running.close();
      await cleanup();
    },
  };
}

export const PASSWORD = 'correct horse battery';

export async function seedUser(s: TestServer, username: string, opts: { admin?: boolean } = {}) {
  return s.services.users.create(OPERATOR, {
    username,
    email: `${username}@example.com`,
    displayName: `${username} Example`,
    password: PASSWORD,
    isAdmin: opts.admin,
  });
}

export const rsaKeys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

export async function seedConsumer(
  s: TestServer,
  key: string,
  opts: { callbackUrl?: string; rsa?: boolean; secret?: boolean } = {},
): Promise<{ key: string; secret: string | null }> {
  const r = await s.services.consumers.create(OPERATOR, {
    key,
    name: `${key} app`,
    description: `The ${key} application`,
    callbackUrl: opts.callbackUrl,
    publicKeyPem: opts.rsa ? rsaKeys.publicKey : undefined,
    withSecret: opts.secret ?? true,
  });
  return { key, secret: r.secret };
}
