// The master key: generated into a file for a single SQLite node, never generated for
// PostgreSQL (every node must share one key), and checked against the stored secrets.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { configVariable, ServiceError } from '../src/errors';
import { assertKeyOpensDatabase, loadMasterKey } from '../src/master-key';
import { SecretBox } from '../src/secret-box';
import { freshDatabase, type FreshDatabase } from './helpers/db';
import { testDatabases } from './helpers/server';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempFile = () => {
  const d = mkdtempSync(join(tmpdir(), 'applink-key-'));
  dirs.push(d);
  return join(d, 'sub', 'secret.key');
};
const pg = { client: 'pg' as const, connectionString: 'postgres://db/applink' };

describe('loadMasterKey', () => {
  it('generates a 0600 key file only when asked (a new SQLite installation), and reads the same key afterwards', () => {
    const file = tempFile();
    const config = { secretKey: null, secretKeyFile: file, database: { client: 'sqlite' as const, filename: 'x' } };
    expect(() => loadMasterKey(config)).toThrow(/^APPLINK_SECRET_KEY_FILE: .* does not exist/);
    expect(existsSync(file)).toBe(false);
    const key = loadMasterKey(config, { generate: true });
    expect(key).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadMasterKey(config)).toEqual(key);
  });

  it('refuses to generate a key file with PostgreSQL, naming APPLINK_SECRET_KEY', () => {
    const file = tempFile();
    let err: unknown;
    try {
      loadMasterKey({ secretKey: null, secretKeyFile: file, database: pg }, { generate: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServiceError);
    expect(configVariable(err)).toBe('APPLINK_SECRET_KEY');
    expect((err as Error).message).toMatch(/same key on every node/);
    expect(existsSync(file)).toBe(false);
  });

  it('with PostgreSQL uses APPLINK_SECRET_KEY, or a key file the operator put in place', () => {
    const key = randomBytes(32);
    expect(loadMasterKey({ secretKey: key, secretKeyFile: tempFile(), database: pg })).toEqual(key);
    const file = tempFile().replace('/sub/', '/');
    writeFileSync(file, key.toString('base64'));
    expect(loadMasterKey({ secretKey: null, secretKeyFile: file, database: pg })).toEqual(key);
  });
});

describe.each(await testDatabases())('assertKeyOpensDatabase on %s', (kind) => {
  let fresh: FreshDatabase;
  afterEach(() => fresh.cleanup());

  it('accepts the key the secrets were sealed with (or a previous one) and refuses another', async () => {
    fresh = await freshDatabase(kind);
    const db = fresh.open();
    await db.migrate();
    const key = randomBytes(32);
    const other = new SecretBox(randomBytes(32));
    await assertKeyOpensDatabase(other, db.knex); // nothing stored yet: any key will do
    await db
      .knex('consumers')
      .insert({ consumer_key: 'k', name: 'k', secret_enc: new SecretBox(key).seal('s'), created_at: 1 });
    await assertKeyOpensDatabase(new SecretBox(key), db.knex);
    await assertKeyOpensDatabase(new SecretBox(randomBytes(32), [key]), db.knex);
    await expect(assertKeyOpensDatabase(other, db.knex)).rejects.toThrow(/APPLINK_SECRET_KEY: does not open/);
  });
});
