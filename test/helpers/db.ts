// A fresh, empty database of either kind for tests below the HTTP layer: a temporary SQLite
// file or a throw-away PostgreSQL database; open() gives any number of connections to it
// (each its own pool, like separate nodes), all closed and removed by cleanup().
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { openDatabase, type Database } from '../../src/db';
import type { DatabaseConfig } from '../../src/config';
import { createTempPgDatabase } from './pg';
import { must } from './must';
import type { TestDatabase } from './server';

export interface FreshDatabase {
  url: string;
  open(): Database;
  cleanup(): Promise<void>;
}

export const databaseConfig = (url: string): DatabaseConfig =>
  url.startsWith('sqlite:') ? { client: 'sqlite', filename: url.slice(7) } : { client: 'pg', connectionString: url };

export async function freshDatabase(kind: TestDatabase): Promise<FreshDatabase> {
  let url: string;
  let remove: () => Promise<void>;
  if (kind === 'pg') {
    const pg = await createTempPgDatabase();
    url = pg.url;
    remove = () => pg.drop();
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'applink-db-'));
    url = `sqlite:${join(dir, 'applink.sqlite')}`;
    remove = () => rm(dir, { recursive: true, force: true });
  }
  const opened: Database[] = [];
  return {
    url,
    open() {
      const db = openDatabase(databaseConfig(url));
      opened.push(db);
      return db;
    },
    async cleanup() {
      await Promise.all(opened.map((d) => d.close()));
      await remove();
    },
  };
}

/** A fresh database of `kind`, opened and migrated (cleanup() closes and removes it). */
export async function migratedDatabase(kind: TestDatabase): Promise<{ fresh: FreshDatabase; db: Database }> {
  const fresh = await freshDatabase(kind);
  const db = fresh.open();
  await db.migrate();
  return { fresh, db };
}

/** The number of rows in `table` (a number on both databases: PostgreSQL counts as a string). */
export async function rowCount(db: Knex | Pick<Database, 'knex'>, table: string): Promise<number> {
  const knex = typeof db === 'function' ? db : db.knex;
  return Number(must(await knex(table).count({ n: '*' }).first(), `the row count of ${table}`).n);
}
