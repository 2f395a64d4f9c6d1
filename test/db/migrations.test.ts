// Every migration, up and down, on SQLite and PostgreSQL; and migrations started by several
// nodes at once against one fresh PostgreSQL database.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db';
import { migrationSource } from '../../migrations';
import { databaseConfig, freshDatabase } from '../helpers/db';
import { testDatabases, type TestDatabase } from '../helpers/server';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function freshUrl(kind: TestDatabase): Promise<string> {
  const fresh = await freshDatabase(kind);
  cleanups.push(() => fresh.cleanup());
  return fresh.url;
}

function open(url: string): Database {
  const db = openDatabase(databaseConfig(url));
  cleanups.push(() => db.close());
  return db;
}

/** Tables (without knex's bookkeeping), their columns and their indexes, as sorted text. */
async function schemaOf(db: Database): Promise<string[]> {
  const out: string[] = [];
  const tables: string[] =
    db.dialect === 'sqlite'
      ? (await db.knex.raw<Array<{ name: string }>>("SELECT name FROM sqlite_master WHERE type = 'table'")).map(
          (r) => r.name,
        )
      : (
          await db.knex.raw<{ rows: Array<{ name: string }> }>(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'",
          )
        ).rows.map((r) => r.name);
  for (const t of tables.filter((n) => !n.startsWith('knex_') && !n.startsWith('sqlite_')).sort()) {
    const cols = await db.knex(t).columnInfo();
    for (const [c, info] of Object.entries(cols)) out.push(`${t}.${c} ${info.nullable ? 'null' : 'not null'}`);
    const indexes: string[] =
      db.dialect === 'sqlite'
        ? (
            await db.knex.raw<Array<{ name: string }>>(
              "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
              [t],
            )
          ).map((r) => r.name)
        : (
            await db.knex.raw<{ rows: Array<{ name: string }> }>(
              'SELECT indexname AS name FROM pg_indexes WHERE tablename = ?',
              [t],
            )
          ).rows.map((r) => r.name);
    for (const i of indexes) out.push(`${t} index ${i}`);
  }
  return out.sort();
}

const MIGRATIONS = await migrationSource.getMigrations([]);

describe.each(await testDatabases())('migrations on %s', (kind) => {
  it('every migration goes up and comes back down to exactly the schema before it', async () => {
    const db = open(await freshUrl(kind));
    const before: string[][] = [];
    for (const [i, name] of MIGRATIONS.entries()) {
      before.push(await schemaOf(db));
      await db.knex.migrate.up({ migrationSource });
      expect(await schemaOf(db), `${name} changes the schema`).not.toEqual(before[i]);
    }
    const latest = await schemaOf(db);
    expect(latest.some((l) => l.startsWith('access_tokens.token_hash'))).toBe(true);
    for (const [i, name] of [...MIGRATIONS.entries()].reverse()) {
      await db.knex.migrate.down({ migrationSource });
      expect(await schemaOf(db), `${name} down`).toEqual(before[i]);
    }
    expect(await schemaOf(db)).toEqual([]);
    // and up again after a full rollback, through the path the server takes
    await db.migrate();
    expect(await schemaOf(db)).toEqual(latest);
    await db.rollbackAll();
    expect(await schemaOf(db)).toEqual([]);
  });
});

const onPg = (await testDatabases()).includes('pg') ? ['pg' as const] : [];

describe.each(onPg)('migrations started by several nodes at once (%s)', (kind) => {
  async function expectMigratedOnce(url: string) {
    const db = open(url);
    const done = await db.knex('knex_migrations').select<Array<{ name: string }>>('name');
    expect(done.map((r) => r.name).sort()).toEqual([...MIGRATIONS].sort());
    const lock = await db.knex('knex_migrations_lock').select<Array<{ is_locked: number }>>('is_locked');
    expect(lock).toEqual([{ is_locked: 0 }]);
  }

  it('eight knex instances migrating one fresh database concurrently all succeed, each migration runs once', async () => {
    for (let round = 0; round < 3; round++) {
      const url = await freshUrl(kind);
      const nodes = Array.from({ length: 8 }, () => open(url));
      const results = await Promise.allSettled(nodes.map((n) => n.migrate()));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(Array(8).fill('ok'));
      await expectMigratedOnce(url);
    }
  });

  it('four `applink migrate` processes started together on a fresh database all exit 0', async () => {
    const url = await freshUrl(kind);
    const env = { ...process.env, APPLINK_DATABASE_URL: url, APPLINK_SECRET_KEY: randomBytes(32).toString('base64') };
    const run = () =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(process.execPath, ['bin/applink.js', 'migrate'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('close', (code) => resolve({ code, err }));
      });
    const results = await Promise.all(Array.from({ length: 4 }, run));
    expect(results).toEqual(Array(4).fill({ code: 0, err: '' }));
    await expectMigratedOnce(url);
  });

  it('a knex lock left taken by a migrator that died is freed, not waited on forever', async () => {
    const url = await freshUrl(kind);
    const first = open(url);
    await first.migrate();
    await first.rollbackAll();
    await first.knex('knex_migrations_lock').update({ is_locked: 1 });
    await first.knex('knex_migrations_lock').insert({ is_locked: 1 }); // doubled row, as knex's race leaves it
    await open(url).migrate();
    await expectMigratedOnce(url);
  });
});
