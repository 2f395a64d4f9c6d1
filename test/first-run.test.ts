// The first-run guard over a real SQLite file: when a code is issued and logged, that it
// is single use, that a failed admin creation can give it back, and that wrong codes
// never replace or invalidate it (the HTTP layer brakes them per address instead).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../src/db';
import { servicesOn } from './helpers/services';
import { OPERATOR } from '../src/services/actor';
import type { UserService } from '../src/services/users';
import { createLogger } from '../src/logger';
import { FirstRun } from '../src/first-run';
import { must } from './helpers/must';

const URL_ = 'http://127.0.0.1:3000/setup';

describe('FirstRun', () => {
  let dir: string;
  let db: Database;
  let users: UserService;
  let logs: Array<Record<string, unknown>>;
  let firstRun: FirstRun;
  let said: string[];
  const codes = () => logs.filter((l) => l.setupCode).map((l) => l.setupCode as string);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'applink-firstrun-'));
    db = openDatabase({ client: 'sqlite', filename: join(dir, 'db.sqlite') });
    await db.migrate();
    users = servicesOn(db).users;
    logs = [];
    said = [];
    firstRun = new FirstRun(
      db.knex,
      () => users.countAdmins(),
      createLogger(
        { logLevel: 'info' },
        { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) },
      ),
      (line) => said.push(line),
    );
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs a code at start only while no enabled admin exists', async () => {
    await firstRun.announce(URL_);
    expect(codes()).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 40, setupUrl: URL_ });

    const admin = await users.create(OPERATOR, {
      username: 'a',
      email: 'a@example.com',
      password: 'password1',
      isAdmin: true,
    });
    const other = new FirstRun(
      db.knex,
      () => users.countAdmins(),
      createLogger(
        { logLevel: 'info' },
        { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) },
      ),
    );
    await other.announce(URL_);
    expect(codes()).toHaveLength(1);
    expect(await other.isOpen()).toBe(false);

    await users.setDisabled(OPERATOR, { username: admin.username }, true); // no enabled admin: setup opens again
    expect(await other.isOpen()).toBe(true);
  });

  it('says the code in a human-readable line too, the same code as the log line', async () => {
    await firstRun.announce(URL_);
    expect(said).toEqual([
      `applink: FIRST RUN: open ${URL_} and enter the one-time setup code ${must(codes()[0], 'the logged setup code')} to create the first administrator`,
    ]);
    expect(codes()[0]).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  });

  it('takes the right code once; a failed creation can give it back', async () => {
    await firstRun.announce(URL_);
    const code = must(codes()[0], 'the logged setup code');
    expect(await firstRun.take('WRONG-CODE-1234')).toBeNull();
    const giveBack = await firstRun.take(code);
    expect(giveBack).toBeTypeOf('function');
    expect(await firstRun.take(code)).toBeNull(); // single use
    await must(giveBack, 'the function that gives the code back')();
    expect(await firstRun.take(code.toLowerCase().replace(/-/g, ''))).toBeTypeOf('function');
  });

  it('wrong codes, however many, neither replace nor invalidate the code', async () => {
    await firstRun.announce(URL_);
    const code = must(codes()[0], 'the logged setup code');
    for (let i = 0; i < 50; i++) expect(await firstRun.take(`WRONG-${i}`)).toBeNull();
    expect(codes()).toHaveLength(1);
    expect(await firstRun.take(code)).toBeTypeOf('function');
  });

  it('two nodes share one code: taken on one, gone on the other; ensureCode prints only a new one', async () => {
    await firstRun.announce(URL_);
    const code = must(codes()[0], 'the logged setup code');
    const other = new FirstRun(db.knex, () => users.countAdmins(), createLogger({ logLevel: 'silent' }));
    await other.ensureCode(URL_); // a code exists: nothing new
    expect(codes()).toHaveLength(1);
    expect(await other.take(code)).toBeTypeOf('function');
    expect(await firstRun.take(code)).toBeNull();
    await firstRun.ensureCode(URL_); // none left: a fresh one is printed
    expect(codes()).toHaveLength(2);
    expect(await other.take(must(codes()[1], 'the second logged setup code'))).toBeTypeOf('function');
  });
});
