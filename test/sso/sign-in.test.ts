// From a verified email to a local user: lookup, auto-provisioning with unique usernames, refusals.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveUser, usernameFromEmail } from '../../src/sso/sign-in';
import { openDatabase, type Database } from '../../src/db';
import { servicesOn } from '../helpers/services';
import { OPERATOR } from '../../src/services/actor';
import { createTempPgDatabase, pgAvailable } from '../helpers/pg';

// Both databases; without a PostgreSQL server pgAvailable() says so loudly (and fails with CI=true).
const dialects = ['sqlite', ...((await pgAvailable()) ? ['pg'] : [])] as const;

describe('usernameFromEmail', () => {
  it.each([
    ['alice@example.com', 'alice'],
    ['Alice.Smith@Example.com', 'alice.smith'],
    ["o'brien+tag@example.com", 'o-brien-tag'],
    ['zoë@example.com', 'zo-'],
    ['"quoted@local"@example.com', 'quoted-local-'],
    ['...@example.com', 'user'],
    ['-x@example.com', 'x'],
    [`${'a'.repeat(100)}@example.com`, 'a'.repeat(64)],
  ])('%s -> %s', (email, username) => {
    expect(usernameFromEmail(email)).toBe(username);
    expect(username).toMatch(/^[a-z0-9._-]{1,64}$/);
  });
});

/** What sign-in takes (SsoUsers), plus the list and disable the tests use. */
function usersOn(db: Database) {
  const s = servicesOn(db);
  return {
    ...s.sso,
    list: () => s.users.list(),
    setDisabled: (username: string) => s.users.setDisabled(OPERATOR, { username }, true),
  };
}

describe.each(dialects)('resolveUser against a real user table (%s)', (dialect) => {
  let db: Database;
  let users: ReturnType<typeof usersOn>;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    if (dialect === 'pg') {
      const pg = await createTempPgDatabase();
      db = openDatabase({ client: 'pg', connectionString: pg.url });
      cleanup = () => pg.drop();
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'applink-sso-'));
      db = openDatabase({ client: 'sqlite', filename: join(dir, 'db.sqlite') });
      cleanup = () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      };
    }
    await db.migrate();
    users = usersOn(db);
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });
  beforeEach(async () => {
    await db.knex('users').del();
  });

  it('many simultaneous first sign-ins of one person create one user', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => resolveUser({ email: 'crowd@example.com', name: null }, users, true)),
    );
    expect(results.every((r) => r.ok && r.user.username === 'crowd')).toBe(true);
    expect(results.filter((r) => r.ok && r.provisioned)).toHaveLength(1);
    expect((await users.list()).map((u) => u.username)).toEqual(['crowd']);
  });

  it('settles a lost provisioning race on the winner, creating no second user', async () => {
    // Another node provisions the same person between our lookup and our insert.
    let lookups = 0;
    const racing = {
      findByEmail: async (email: string) => (lookups++ === 0 ? null : users.findByEmail(email)),
      findByUsername: (u: string) => users.findByUsername(u),
      create: async (u: { username: string; email: string; displayName?: string }) => {
        await users.create({ username: 'winner', email: u.email });
        return users.create(u);
      },
    };
    const r = await resolveUser({ email: 'pat@example.com', name: null }, racing, true);
    expect(r).toMatchObject({ ok: true, provisioned: false, user: { username: 'winner' } });
    expect((await users.list()).map((u) => u.username)).toEqual(['winner']);
  });

  it('takes the next free username when the derived one is taken by someone else', async () => {
    await users.create({ username: 'pat', email: 'pat@one.example' });
    await users.create({ username: 'pat-2', email: 'pat@two.example' });
    const r = await resolveUser({ email: 'pat@three.example', name: 'Pat Three' }, users, true);
    expect(r).toMatchObject({ ok: true, provisioned: true, user: { username: 'pat-3', displayName: 'Pat Three' } });
  });

  it('refuses unknown people without auto-provisioning and disabled people always', async () => {
    expect(await resolveUser({ email: 'nobody@example.com', name: null }, users, false)).toEqual({
      ok: false,
      reason: 'unknown_user',
    });
    const u = await users.create({ username: 'gone', email: 'gone@example.com' });
    await users.setDisabled('gone');
    for (const auto of [false, true])
      expect(await resolveUser({ email: 'gone@example.com', name: null }, users, auto)).toEqual({
        ok: false,
        reason: 'user_disabled',
        userId: u.id,
      });
  });
});
