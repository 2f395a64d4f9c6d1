/**
 * The one way the server and every CLI command open the database and the master key.
 *
 * - Only `create` (the server, `applink migrate`) may create an SQLite file, its folder or a
 *   key file, and only where none exists; every other command refuses a missing database
 *   with one line naming APPLINK_DATABASE_URL, a missing key file with one naming
 *   APPLINK_SECRET_KEY_FILE.
 * - The key is checked against the installation (src/master-key.ts) BEFORE anything is written,
 *   migrations included, exactly as the server checks it; `inspect` (keys status/repair)
 *   skips only that check, to diagnose and mend an installation that fails it.
 * - Every failure is a `config_invalid` ServiceError: one line naming the variable to fix.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config, DatabaseConfig } from './config';
import { configInvalid } from './errors';
import { firstLine } from './error-message';
import { openDatabase, type Database } from './db';
import { assertKeyOpensDatabase, keyVariable, loadMasterKey, recordMasterKeys } from './master-key';
import { SecretBox } from './secret-box';

/**
 * create: may create the database and key (serve, migrate);
 * write: an existing installation, key checked and recorded (commands that change data);
 * read: an existing installation, key checked (listings);
 * inspect: an existing installation, key not checked (keys status, keys repair).
 */
export type OpenMode = 'create' | 'write' | 'read' | 'inspect';

export interface Installation {
  db: Database;
  box: SecretBox;
  /** the migrations this opening applied (none when the schema was up to date) */
  migrated: string[];
}

export interface InstallationOptions {
  /** where the database driver's warnings go (default: dropped; errors are thrown anyway) */
  warn?: (message: string) => void;
}

/** host:port/database of a PostgreSQL URL, never its password. */
export function describeDatabase(config: DatabaseConfig): string {
  if (config.client === 'sqlite') return config.filename;
  try {
    const u = new URL(config.connectionString);
    return `PostgreSQL at ${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

function checkSqlitePath(filename: string, mode: OpenMode): { exists: boolean } {
  if (filename === ':memory:') return { exists: true };
  if (existsSync(filename)) {
    if (statSync(filename).isDirectory())
      throw configInvalid('APPLINK_DATABASE_URL', `${filename} is a folder, not an SQLite database file`);
    return { exists: true };
  }
  if (mode !== 'create') {
    const folder = existsSync(dirname(filename)) ? '' : ` (nor the folder ${dirname(filename)})`;
    throw configInvalid(
      'APPLINK_DATABASE_URL',
      `no database at ${filename}${folder}: check the path; only \`applink migrate\` or starting the server creates one`,
    );
  }
  return { exists: false };
}

export async function openInstallation(
  config: Readonly<Config>,
  mode: OpenMode,
  options: InstallationOptions = {},
): Promise<Installation> {
  const where = describeDatabase(config.database);
  const isSqlite = config.database.client === 'sqlite';
  const fresh = isSqlite && !checkSqlitePath((config.database as { filename: string }).filename, mode).exists;
  // The key before the database, so a missing key is reported without a connection and a
  // failure leaves no empty database behind. Only whether a missing key file may be
  // generated (an existing SQLite file without applink tables) needs the database first.
  const keyFileMissing = !config.secretKey && !existsSync(config.secretKeyFile);
  const deferKey = isSqlite && !fresh && mode === 'create' && keyFileMissing;
  let box = deferKey ? undefined : new SecretBox(loadMasterKey(config, { generate: fresh }), config.previousSecretKeys);

  let db: Database;
  try {
    db = openDatabase(config.database, { create: mode === 'create', warn: options.warn });
  } catch (e) {
    throw configInvalid('APPLINK_DATABASE_URL', `cannot open ${where}: ${firstLine(e)}`);
  }
  try {
    try {
      await db.ping();
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why =
        code === 'SQLITE_NOTADB' ? 'not an SQLite database' : code === 'SQLITE_CANTOPEN' ? 'cannot open the file' : '';
      throw configInvalid(
        'APPLINK_DATABASE_URL',
        `cannot ${isSqlite ? 'open' : 'connect to'} ${where}: ${why || firstLine(e)}${why ? ` (${firstLine(e)})` : ''}`,
      );
    }
    const hasSchema = !fresh && (await db.hasSchema());
    if (!hasSchema && mode !== 'create')
      throw configInvalid(
        'APPLINK_DATABASE_URL',
        `${where} holds no applink tables: check the URL; only \`applink migrate\` or starting the server creates them`,
      );
    box ??= new SecretBox(loadMasterKey(config, { generate: !hasSchema }), config.previousSecretKeys);
    if (mode !== 'inspect') await assertKeyOpensDatabase(box, db.knex, keyVariable(config));
    const migrated = await db.migrate();
    if (mode === 'create' || mode === 'write') await recordMasterKeys(box, db.knex);
    return { db, box, migrated };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}
