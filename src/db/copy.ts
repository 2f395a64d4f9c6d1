/**
 * Moving an SQLite installation to PostgreSQL: every table, every row, ids kept.
 *
 * Secrets are copied as they are (ciphertexts sealed under the master key; the PostgreSQL
 * nodes must use the same APPLINK_SECRET_KEY), so every grant keeps working. The source is
 * read in one read transaction (a consistent snapshot); the target is written in one
 * transaction, refused unless empty, and its id sequences are moved past the copied ids.
 */
import type { Knex } from 'knex';
import type { Database } from './index';

import { refused } from '../errors';

export interface CopiedTable {
  table: string;
  rows: number;
}

// Stay well below PostgreSQL's 65535 bind parameters per statement.
const MAX_PARAMETERS = 30_000;
const PAGE = 2_000;

export async function copySqliteToPg(source: Database, target: Database): Promise<CopiedTable[]> {
  if (source.dialect !== 'sqlite') throw refused('the source must be an SQLite database (sqlite:PATH)');
  if (target.dialect !== 'pg') throw refused('the target must be a PostgreSQL database (postgres://…)');
  await source.migrate();
  await target.migrate();

  return source.knex.transaction(async (src) => {
    const tables = await tablesInDependencyOrder(src);
    for (const table of tables) {
      if (!(await target.knex.schema.hasTable(table)))
        throw refused(`the target has no table ${table}: is it at the same version?`);
      const row: unknown = await target.knex(table).first(target.knex.raw('1 AS present'));
      if (row) throw refused(`the target database is not empty (table ${table} has rows); refusing to copy`);
    }
    return target.knex.transaction(async (dst) => {
      const copied: CopiedTable[] = [];
      for (const table of tables) copied.push({ table, rows: await copyTable(src, dst, table) });
      for (const table of tables) await moveSequencesPastIds(dst, table);
      return copied;
    });
  });
}

/** Application tables, parents before children (SQLite's foreign-key list decides). */
async function tablesInDependencyOrder(src: Knex.Transaction): Promise<string[]> {
  const names = (
    await src.raw<Array<{ name: string }>>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
  )
    .map((r) => r.name)
    .filter((n) => !n.startsWith('sqlite_') && !n.startsWith('knex_'));
  const parents = new Map<string, string[]>();
  for (const n of names) {
    const fks = await src.raw<Array<{ table: string }>>(`PRAGMA foreign_key_list(${quoteSqlite(n)})`);
    parents.set(
      n,
      fks.map((f) => f.table).filter((t) => t !== n && names.includes(t)),
    );
  }
  const ordered: string[] = [];
  const visit = (n: string, path: string[]) => {
    if (ordered.includes(n)) return;
    if (path.includes(n)) throw refused(`circular foreign keys between ${path.join(', ')}`);
    for (const p of parents.get(n) ?? []) visit(p, [...path, n]);
    ordered.push(n);
  };
  for (const n of names) visit(n, []);
  return ordered;
}

const quoteSqlite = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function copyTable(src: Knex.Transaction, dst: Knex.Transaction, table: string): Promise<number> {
  const targetColumns = await dst(table).columnInfo();
  const convert = converters(targetColumns);
  let copied = 0;
  let after = -Number.MAX_VALUE;
  const withoutRowid = await isWithoutRowid(src, table);
  for (;;) {
    // Keyset paging on SQLite's rowid: stable and cheap however large the table. A WITHOUT
    // ROWID table (nonces: bounded by the timestamp window) is read in one go.
    const rows = withoutRowid
      ? copied > 0
        ? []
        : await src.raw<Array<Record<string, unknown>>>(`SELECT * FROM ${quoteSqlite(table)}`)
      : await src.raw<Array<Record<string, unknown>>>(
          `SELECT rowid AS "__applink_rowid", * FROM ${quoteSqlite(table)} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
          [after, PAGE],
        );
    if (rows.length === 0) return copied;
    const last = rows[rows.length - 1];
    if (!withoutRowid && last) after = last.__applink_rowid as number;
    const out = rows.map((r) => {
      const o: Record<string, unknown> = {};
      for (const [column, value] of Object.entries(r)) {
        if (column === '__applink_rowid') continue;
        // (own keys only: a column called `constructor` is not one of Object's)
        const toTarget = Object.hasOwn(convert, column) ? convert[column] : undefined;
        if (!toTarget) throw refused(`the target's table ${table} has no column ${column}: is it at the same version?`);
        o[column] = toTarget(value);
      }
      return o;
    });
    const columns = Object.keys(out[0] ?? {}).length;
    const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / Math.max(1, columns)));
    for (let i = 0; i < out.length; i += chunk) await dst(table).insert(out.slice(i, i + chunk));
    copied += rows.length;
  }
}

async function isWithoutRowid(src: Knex.Transaction, table: string): Promise<boolean> {
  const rows = await src.raw<Array<{ sql: string | null }>>(
    `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`,
    [table],
  );
  return /\bWITHOUT\s+ROWID\b/i.test(rows[0]?.sql ?? '');
}

/** SQLite stores booleans as 0/1 and knex timestamps as epoch milliseconds. */
function converters(columns: Record<string, Knex.ColumnInfo>): Record<string, (v: unknown) => unknown> {
  const out: Record<string, (v: unknown) => unknown> = {};
  for (const [name, info] of Object.entries(columns)) {
    const type = info.type.toLowerCase();
    if (type === 'boolean') out[name] = (v) => (v === null ? null : Boolean(Number(v)));
    else if (type.startsWith('timestamp') || type === 'date')
      out[name] = (v) => (typeof v === 'number' ? new Date(v) : v);
    else out[name] = (v) => v;
  }
  return out;
}

/** Explicit ids do not advance a serial's sequence: set each to continue after the largest id. */
async function moveSequencesPastIds(dst: Knex.Transaction, table: string): Promise<void> {
  const serials = (
    await dst.raw<{ rows: Array<{ column_name: string; seq: string | null }> }>(
      `SELECT column_name, pg_get_serial_sequence(quote_ident(table_name), column_name) AS seq
         FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = ? AND column_default LIKE 'nextval(%'`,
      [table],
    )
  ).rows;
  for (const s of serials) {
    if (!s.seq) continue;
    await dst.raw('SELECT setval(?, COALESCE((SELECT MAX(??) FROM ??), 0) + 1, false)', [s.seq, s.column_name, table]);
  }
}
