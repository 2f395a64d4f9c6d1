/**
 * The SQLite file holds password hashes, emails and session ids: only the service's own
 * account may read it. Its directory is created 0700, and the database is created (or,
 * from an older installation, tightened) to 0600 before SQLite opens it; SQLite gives its
 * -wal and -shm files the database file's mode, and they are tightened again once open in
 * case an older run left them wider. Nothing here touches the process umask, which other
 * files (logs, exports) may rely on.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export const DATA_DIRECTORY_MODE = 0o700;
export const DATABASE_FILE_MODE = 0o600;

/** Before opening: the directory (when it has to be created) and the database file itself. */
export function prepareSqliteFile(filename: string): void {
  if (filename === ':memory:' || filename.startsWith('file:')) return;
  const dir = dirname(filename);
  // mode applies to every directory this creates; an existing one is the operator's choice
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: DATA_DIRECTORY_MODE });
  closeSync(openSync(filename, 'a', DATABASE_FILE_MODE));
  chmodSync(filename, DATABASE_FILE_MODE);
}

/** After opening in WAL mode: the database and its -wal and -shm files are 0600. */
export function tightenSqliteFiles(filename: string): void {
  if (filename === ':memory:' || filename.startsWith('file:')) return;
  for (const f of [filename, `${filename}-wal`, `${filename}-shm`]) {
    try {
      chmodSync(f, DATABASE_FILE_MODE);
    } catch (e) {
      // -wal and -shm appear with the first transaction; SQLite then copies the database's mode
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
