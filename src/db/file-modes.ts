/**
 * The SQLite file holds password hashes, emails and session ids, and the master key file
 * opens every sealed secret: only the service's own account may read them. Their directory
 * (./data by default, the same one for both) is created 0700 by whichever is made first,
 * the key file 0600, and the database is created (or,
 * from an older installation, tightened) to 0600 before SQLite opens it; SQLite gives its
 * -wal and -shm files the database file's mode, and they are tightened again once open in
 * case an older run left them wider. Nothing here touches the process umask, which other
 * files (logs, exports) may rely on.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export const DATA_DIRECTORY_MODE = 0o700;
/** the database, its -wal and -shm files, and the master key file */
export const PRIVATE_FILE_MODE = 0o600;
const DATABASE_FILE_MODE = PRIVATE_FILE_MODE;

/**
 * The directory a private file goes in, created 0700 (with every parent it has to create)
 * when it does not exist; an existing one is the operator's choice and left as it is.
 */
export function ensureDataDirectory(file: string): void {
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: DATA_DIRECTORY_MODE });
}

/** Before opening: the directory (when it has to be created) and the database file itself. */
export function prepareSqliteFile(filename: string): void {
  if (filename === ':memory:' || filename.startsWith('file:')) return;
  ensureDataDirectory(filename);
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
