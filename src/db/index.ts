/**
 * Opening the database. Every SQLite/PostgreSQL difference lives in this folder:
 * connection setup here, and the two hand-prepared hot-path statements in hot-path.ts.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import type { DatabaseConfig } from '../config';
import { migrationSource } from '../../migrations';

export type Dialect = 'sqlite' | 'pg';

export interface Database {
  knex: Knex;
  dialect: Dialect;
  /** SQLite: the one connection (knex's pool holds exactly one), for prepared statements */
  sqlite(): BetterSqlite3.Database;
  migrate(): Promise<void>;
  rollbackAll(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const INT8_OID = 20;

export function openDatabase(config: DatabaseConfig): Database {
  if (config.client === 'sqlite') return openSqlite(config.filename);
  // Resolved once: pg asks for a parser for every column of every result.
  const pgTypes = (require('pg') as typeof import('pg')).types;
  const parseInt8 = (v: string) => Number(v);
  const knex = knexFactory({
    client: 'pg',
    connection: {
      connectionString: config.connectionString,
      // bigint columns hold millisecond times and counts well inside 2^53
      types: {
        getTypeParser: (oid: number, format?: string) =>
          oid === INT8_OID ? parseInt8 : (pgTypes.getTypeParser(oid, format as 'text') as never),
      },
    } as Knex.PgConnectionConfig,
    pool: { min: 0, max: 10 },
  });
  return wrap(knex, 'pg', () => {
    throw new Error('not an SQLite database');
  });
}

function openSqlite(filename: string): Database {
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
  let current: BetterSqlite3.Database | null = null;
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
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

function wrap(knex: Knex, dialect: Dialect, sqlite: () => BetterSqlite3.Database): Database {
  return {
    knex,
    dialect,
    sqlite,
    async migrate() {
      await knex.migrate.latest({ migrationSource });
    },
    async rollbackAll() {
      await knex.migrate.rollback({ migrationSource }, true);
    },
    async ping() {
      await knex.raw('select 1');
    },
    async close() {
      await knex.destroy();
    },
  };
}
