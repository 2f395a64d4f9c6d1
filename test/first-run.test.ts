// The first-run guard over a real SQLite file: when a code is issued and logged, that it
// is single use, that a failed admin creation can give it back, and that too many wrong
// codes replace it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../src/db';
import { UserRepository } from '../src/db/users';
import { createLogger } from '../src/logger';
import { FirstRun, MAX_WRONG_CODES } from '../src/first-run';

const URL_ = 'http://127.0.0.1:3000/setup';

describe('FirstRun', () => {
  let dir: string;
  let db: Database;
  let users: UserRepository;
  let logs: Array<Record<string, unknown>>;
  let firstRun: FirstRun;
  let said: string[];
  const codes = () => logs.filter((l) => l.setupCode).map((l) => l.setupCode as string);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'applink-firstrun-'));
    db = openDatabase({ client: 'sqlite', filename: join(dir, 'db.sqlite') });
    await db.migrate();
    users = new UserRepository(db.knex);
    logs = [];
    said = [];
    firstRun = new FirstRun(
      users,
      createLogger({ logLevel: 'info' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
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

    const admin = await users.create({ username: 'a', email: 'a@example.com', password: 'password1', isAdmin: true });
    const other = new FirstRun(
      users,
      createLogger({ logLevel: 'info' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
    );
    await other.announce(URL_);
    expect(codes()).toHaveLength(1);
    expect(await other.isOpen()).toBe(false);

    await users.setDisabled(admin.username, true); // no enabled admin: setup opens again
    expect(await other.isOpen()).toBe(true);
  });

  it('says the code in a human-readable line too, the same code as the log line', async () => {
    await firstRun.announce(URL_);
    expect(said).toEqual([
      `applink: FIRST RUN: open ${URL_} and enter the one-time setup code ${codes()[0]} to create the first administrator`,
    ]);
    expect(codes()[0]).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  });

  it('takes the right code once; a failed creation can give it back', async () => {
    await firstRun.announce(URL_);
    const code = codes()[0]!;
    expect(firstRun.take('WRONG-CODE-1234', URL_)).toBeNull();
    const giveBack = firstRun.take(code, URL_);
    expect(giveBack).toBeTypeOf('function');
    expect(firstRun.take(code, URL_)).toBeNull(); // single use
    giveBack!();
    expect(firstRun.take(code.toLowerCase().replace(/-/g, ''), URL_)).toBeTypeOf('function');
  });

  it(`replaces the code after ${MAX_WRONG_CODES} wrong ones`, async () => {
    await firstRun.announce(URL_);
    const first = codes()[0]!;
    for (let i = 0; i < MAX_WRONG_CODES; i++) expect(firstRun.take(`WRONG-${i}`, URL_)).toBeNull();
    expect(codes()).toHaveLength(2);
    expect(logs.at(-1)!.msg).toContain('too many wrong setup codes');
    expect(said.at(-1)).toBe(
      `applink: FIRST RUN (too many wrong setup codes: replaced): open ${URL_} and enter the one-time setup code ${codes()[1]} to create the first administrator`,
    );
    expect(firstRun.take(first, URL_)).toBeNull();
    expect(firstRun.take(codes()[1]!, URL_)).toBeTypeOf('function');
  });
});
