// Migration 007 (the nonce table keyed by timestamp first) up and down on both databases:
// live nonces survive both ways, uniqueness holds, and the sweep still deletes by age.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../src/db';
import { sweep } from '../../src/db/sweep';
import { migrationSource } from '../../migrations';
import { createTempPgDatabase, pgAvailable } from '../helpers/pg';
import { must } from '../helpers/must';

const pgUp = await pgAvailable();

async function withDb(kind: 'sqlite' | 'pg', fn: (db: Database) => Promise<void>): Promise<void> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'applink-mig-'));
    const db = openDatabase({ client: 'sqlite', filename: join(dir, 'm.sqlite') });
    try {
      await fn(db);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const pg = await createTempPgDatabase();
  const db = openDatabase({ client: 'pg', connectionString: pg.url });
  try {
    await fn(db);
  } finally {
    await db.close();
    await pg.drop();
  }
}

const rows = (db: Database) =>
  db
    .knex('nonces')
    .select<Array<{ consumer_id: number; token_ref: string; timestamp: number | string; nonce: string }>>(
      'consumer_id',
      'token_ref',
      'timestamp',
      'nonce',
    )
    .orderBy('nonce');

describe.each(['sqlite', 'pg'] as const)('migration 007 on %s', (kind) => {
  it.runIf(kind === 'sqlite' || pgUp)('keeps live nonces through down and up, and stays unique', async () => {
    await withDb(kind, async (db) => {
      await db.migrate();
      const now = Math.floor(Date.now() / 1000);
      await db.knex('nonces').insert([
        { consumer_id: 1, token_ref: 'a1', timestamp: now, nonce: 'fresh' },
        { consumer_id: 1, token_ref: 'a1', timestamp: now - 10_000, nonce: 'stale' },
      ]);
      const before = await rows(db);
      await db.knex.migrate.down({ migrationSource });
      expect(await rows(db)).toEqual(before);
      await db.migrate();
      expect(await rows(db)).toEqual(before);
      await expect(
        db.knex('nonces').insert({ consumer_id: 1, token_ref: 'a1', timestamp: now, nonce: 'fresh' }),
      ).rejects.toThrow();
      if (kind === 'pg') {
        const opts = await db.knex.raw<{ rows: Array<{ reloptions: string[] | null }> }>(
          "SELECT reloptions FROM pg_class WHERE relname = 'nonces'",
        );
        expect(must(opts.rows[0], "the nonces table's options").reloptions).toContain(
          'autovacuum_vacuum_scale_factor=0',
        );
      }
      const swept = await sweep(db, Date.now(), 300);
      expect(swept.nonces).toBe(1);
      expect((await rows(db)).map((r) => r.nonce)).toEqual(['fresh']);
      if (kind === 'pg') {
        // the sweep vacuums what it deleted, whatever the server's autovacuum setting
        const st = await db.knex.raw<{ rows: Array<{ last_vacuum: Date | null }> }>(
          "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'nonces'",
        );
        expect(must(st.rows[0], "the nonces table's statistics").last_vacuum).not.toBeNull();
      }
    });
  });
});
