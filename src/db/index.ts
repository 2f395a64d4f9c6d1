/**
 * Opening the database. Every SQLite/PostgreSQL difference lives in this folder:
 * connection setup here, and the two hand-prepared hot-path statements in hot-path.ts.
 */
import { existsSync } from 'node:fs';
import knexFactory, { type Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import type { DatabaseConfig } from '../config';
import { migrationSource } from '../../migrations';
import { prepareSqliteFile, tightenSqliteFiles } from './file-modes';
import { firstLine } from '../error-message';

export type Dialect = 'sqlite' | 'pg';

export interface Database {
  knex: Knex;
  dialect: Dialect;
  /** SQLite: the one connection (knex's pool holds exactly one), for prepared statements */
  sqlite(): BetterSqlite3.Database;
  /** brings the schema up to date; returns the names of the migrations it applied */
  migrate(): Promise<string[]>;
  rollbackAll(): Promise<void>;
  ping(): Promise<void>;
  /** true when applink's migrations have run here at least once */
  hasSchema(): Promise<boolean>;
  close(): Promise<void>;
}

// pg_advisory_lock key of applink's migrator ('aplk'): serialises migrations across nodes.
const MIGRATION_LOCK_KEY = 0x61706c6b;

interface PgConnection {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

export interface OpenOptions {
  /**
   * SQLite: create the file (and its folder) when missing. Default true for tests and
   * tools; the server and the CLI decide through openInstallation (src/installation.ts),
   * where only `serve` and `migrate` may create a database.
   */
  create?: boolean;
  /** where knex's own warnings go (connection errors arrive as rejections anyway); default: dropped */
  warn?: (message: string) => void;
}

/** knex prints connection errors with their stack to the console unless given a log. */
function knexLog(warn: (message: string) => void): Knex.Config['log'] {
  return {
    warn: (m: unknown) => warn(firstLine(m)),
    error: (m: unknown) => warn(firstLine(m)),
    deprecate: () => undefined,
    debug: () => undefined,
  };
}

export function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Database {
  const log = knexLog(options.warn ?? (() => undefined));
  if (config.client === 'sqlite') return openSqlite(config.filename, options.create ?? true, log);
  // Resolved once: pg asks for a parser for every column of every result.
  const pgTypes = (require('pg') as typeof import('pg')).types;
  const parseInt8 = (v: string) => Number(v);
  type TypeId = Parameters<typeof pgTypes.getTypeParser>[0];
  const int8: TypeId = pgTypes.builtins.INT8;
  const getTypeParser = (oid: TypeId, format?: 'text' | 'binary'): ((value: string) => unknown) =>
    oid === int8 ? parseInt8 : (pgTypes.getTypeParser(oid, format) as (value: string) => unknown);
  const knex = knexFactory({
    client: 'pg',
    connection: {
      connectionString: config.connectionString,
      // bigint columns hold millisecond times and counts well inside 2^53
      types: { getTypeParser },
      application_name: 'applink',
      // an unreachable host fails in seconds, not after the OS's TCP timeout
      connectionTimeoutMillis: 10_000,
    } as Knex.PgConnectionConfig,
    pool: { min: 0, max: 10 },
    log,
  });
  return wrap(knex, 'pg', () => {
    throw new Error('not an SQLite database');
  });
}

function openSqlite(filename: string, create: boolean, log: Knex.Config['log']): Database {
  if (filename !== ':memory:') {
    if (create) {
      prepareSqliteFile(filename); // directory 0700, file 0600 (file-modes.ts)
    } else if (!existsSync(filename)) {
      // (openInstallation says which variable to fix; this is the last guard)
      throw new Error(`no SQLite database at ${filename}`);
    }
  }
  let current: BetterSqlite3.Database | null = null;
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    log,
    // One connection: better-sqlite3 is synchronous, so a second one in the same thread
    // could only wait for the first by blocking the event loop.
    pool: {
      min: 1,
      max: 1,
      idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
      afterCreate: (conn: BetterSqlite3.Database, done: (err: Error | null, conn: unknown) => void) => {
        conn.pragma('journal_mode = WAL');
        conn.pragma('foreign_keys = ON');
        conn.pragma('busy_timeout = 5000');
        // WAL + NORMAL survives process crashes; only an OS crash can lose the last commits.
        conn.pragma('synchronous = NORMAL');
        tightenSqliteFiles(filename);
        current = conn;
        done(null, conn);
      },
    },
  });
  return wrap(knex, 'sqlite', () => {
    if (!current) throw new Error('the SQLite connection is not open yet');
    return current;
  });
}

/**
 * Runs the migrator alone among every node sharing the database. knex's own lock row is
 * taken only after knex has created its bookkeeping tables, and two nodes starting on a
 * fresh database both try to create them (one fails, or two lock rows make the lock
 * permanently "taken"). On PostgreSQL a session advisory lock, held on one dedicated
 * connection, is taken first: PostgreSQL releases it itself if the node dies.
 * SQLite serves one node; its single connection needs nothing more.
 */
async function exclusively<T>(knex: Knex, dialect: Dialect, fn: () => Promise<T>): Promise<T> {
  if (dialect !== 'pg') return fn();
  const client = knex.client as {
    acquireConnection(): Promise<PgConnection>;
    releaseConnection(c: PgConnection): Promise<void>;
  };
  const conn = await client.acquireConnection();
  try {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await freeStaleKnexLock(knex);
      return await fn();
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.releaseConnection(conn);
  }
}

/**
 * Under the advisory lock no other migrator runs, so a taken (or doubled) knex lock row can
 * only be left over from a migrator that died between its own lock and unlock.
 */
async function freeStaleKnexLock(knex: Knex): Promise<void> {
  if (!(await knex.schema.hasTable('knex_migrations_lock'))) return;
  const rows = await knex('knex_migrations_lock').select<Array<{ is_locked: number }>>('is_locked');
  const [lock] = rows;
  if (rows.length === 1 && lock?.is_locked === 0) return;
  await knex.migrate.forceFreeMigrationsLock({ migrationSource });
}

function wrap(knex: Knex, dialect: Dialect, sqlite: () => BetterSqlite3.Database): Database {
  return {
    knex,
    dialect,
    sqlite,
    async migrate() {
      const [, applied] = (await exclusively(knex, dialect, () => knex.migrate.latest({ migrationSource }))) as [
        number,
        string[],
      ];
      return applied;
    },
    async rollbackAll() {
      await exclusively(knex, dialect, () => knex.migrate.rollback({ migrationSource }, true));
    },
    async ping() {
      await knex.raw('select 1');
    },
    async hasSchema() {
      return knex.schema.hasTable('knex_migrations');
    },
    async close() {
      await knex.destroy();
    },
  };
}
