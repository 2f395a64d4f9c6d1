// PostgreSQL for tests: each suite gets its own throw-away database on the server at
// APPLINK_TEST_PG_URL (default: the machine's 127.0.0.1:5432, database test), so suites and
// parallel workers never share state. Without a server, pgAvailable() is false: suites then
// skip, loudly, except with CI=true, where a missing server is a failure.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const PG_ADMIN_URL = process.env.APPLINK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let available: Promise<boolean> | undefined;

export function pgAvailable(): Promise<boolean> {
  return (available ??= (async () => {
    const c = new Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.query('select 1');
      return true;
    } catch (e) {
      if (process.env.CI === 'true') {
        throw new Error(`CI=true but PostgreSQL at ${PG_ADMIN_URL} is not reachable: ${(e as Error).message}`);
      }
      process.stderr.write(
        `\n*** PostgreSQL at ${PG_ADMIN_URL} is not reachable: SKIPPING the PostgreSQL tests ***\n\n`,
      );
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  })());
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates an empty database and returns its URL and a function that drops it. */
export async function createTempPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `applink_t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
