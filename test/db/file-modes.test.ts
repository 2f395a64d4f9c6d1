// The SQLite database holds password hashes, emails and session ids: its directory is
// created 0700 and the database, -wal and -shm files are 0600, also when an older run left
// them world-readable.
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db';
import { startTestServer } from '../helpers/server';
import { PASSWORD } from '../helpers/server';
import { OPERATOR } from '../../src/services/actor';
import { loadConfig } from '../../src/config';
import { openInstallation } from '../../src/installation';

const mode = (p: string) => statSync(p).mode & 0o777;
const root = mkdtempSync(join(tmpdir(), 'applink-modes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('SQLite file modes', () => {
  it('a new data directory is 0700; the database, -wal and -shm are 0600', async () => {
    const file = join(root, 'fresh', 'data', 'applink.sqlite');
    const s = await startTestServer({ APPLINK_DATABASE_URL: `sqlite:${file}` });
    try {
      await s.services.users.create(OPERATOR, { username: 'alice', email: 'alice@example.com', password: PASSWORD });
      expect(mode(join(root, 'fresh', 'data'))).toBe(0o700);
      expect(mode(join(root, 'fresh'))).toBe(0o700);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        expect(existsSync(f), f).toBe(true);
        expect(mode(f).toString(8), f).toBe('600');
      }
    } finally {
      await s.stop();
    }
  });

  it('a default installation (key file and database in one new folder): the folder is 0700, the key 0600', async () => {
    // no APPLINK_SECRET_KEY: the key file is made first, in the folder the database then shares
    const data = join(root, 'default', 'data');
    const config = loadConfig({
      APPLINK_DATABASE_URL: `sqlite:${join(data, 'applink.sqlite')}`,
      APPLINK_SECRET_KEY_FILE: join(data, 'secret.key'),
    });
    const { db } = await openInstallation(config, 'create');
    try {
      expect(mode(data).toString(8)).toBe('700');
      expect(mode(join(root, 'default')).toString(8)).toBe('700');
      expect(mode(join(data, 'secret.key')).toString(8)).toBe('600');
      expect(mode(join(data, 'applink.sqlite')).toString(8)).toBe('600');
    } finally {
      await db.close();
    }
  });

  it('files an older run left world-readable are tightened on open', async () => {
    const dir = join(root, 'old');
    const seed = openDatabase({ client: 'sqlite', filename: join(dir, 'applink.sqlite') });
    await seed.migrate();
    await seed.close();
    const file = join(dir, 'applink.sqlite');
    chmodSync(file, 0o644);
    writeFileSync(`${file}-wal`, '');
    chmodSync(`${file}-wal`, 0o666);
    const db = openDatabase({ client: 'sqlite', filename: file });
    try {
      await db.ping();
      await db.knex('sessions').insert({ sid: 'x', sess: '{}', expires_at: Date.now() + 1000 });
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(mode(f).toString(8), f).toBe('600');
    } finally {
      await db.close();
    }
  });
});
