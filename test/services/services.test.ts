// Every management action of src/services/ on both databases: what it changes, the audit
// entry it writes, who may do it, and that a failure after the change (the audit insert
// failing inside the transaction) leaves neither the change nor its audit entry.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import type { Database } from '../../src/db';
import { AuditRepository } from '../../src/db/audit';
import { SecretBox } from '../../src/secret-box';
import type { AuditEvent, Clock, UserRecord } from '../../src/oauth1/ports';
import { adminActor, OPERATOR, userActor, type Actor } from '../../src/services/actor';
import { rsaKeys } from '../helpers/server';
import { migratedDatabase, rowCount, type FreshDatabase } from '../helpers/db';
import { testDatabases } from '../helpers/server';
import { FailingAudits, rejectsWith, servicesOn } from '../helpers/services';
import { must } from '../helpers/must';
import { FirstRun } from '../../src/first-run';
import { createLogger } from '../../src/logger';
import { SetupService } from '../../src/services/setup';
import { createBrakes, SETUP_LIMITS } from '../../src/services/brakes';
import { Transactor } from '../../src/services/transaction';
import { UserRepository } from '../../src/db/users';

const box = new SecretBox(randomBytes(32));
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);

describe.each(await testDatabases())('management services on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  let knex: Knex;
  const clock: Clock & { t: number } = { t: T0, now: () => clock.t };
  let s: ReturnType<typeof servicesOn>;
  let failing: ReturnType<typeof servicesOn>;
  let root: UserRecord;
  let admin: Actor;
  let observed: AuditEvent[];

  beforeAll(async () => {
    ({ fresh, db } = await migratedDatabase(kind));
    knex = db.knex;
  });
  afterAll(() => fresh.cleanup());

  beforeEach(async () => {
    for (const t of ['access_tokens', 'request_tokens', 'nonces', 'audit_events', 'consumers', 'users'])
      await knex(t).del();
    clock.t = T0;
    observed = [];
    s = servicesOn(db, { clock, box });
    failing = servicesOn(db, { clock, box, audits: new FailingAudits(clock) });
    root = await s.users.create(OPERATOR, {
      username: 'root',
      email: 'root@example.com',
      password: 'a long password',
      isAdmin: true,
    });
    admin = adminActor(root, '192.0.2.1');
    await knex('audit_events').del();
  });

  const audit = async () =>
    (await s.audits.list({ limit: 100 })).reverse().map((e) => ({
      event: e.event,
      actor: e.actor,
      consumerKey: e.consumerKey,
      ip: e.ip,
      detail: e.detail === null ? null : (JSON.parse(e.detail) as Record<string, unknown>),
    }));
  /** Everything an action could have changed, to compare before and after a failed one. */
  const snapshot = async () => ({
    users: await knex('users').orderBy('id'),
    consumers: await knex('consumers').orderBy('id'),
    tokens: await knex('access_tokens').orderBy('id'),
    audit: await rowCount(knex, 'audit_events'),
  });
  const grantFor = async (userId: number, consumerId: number) => {
    const [row] = await knex('access_tokens')
      .insert({
        token_hash: randomBytes(32).toString('hex'),
        consumer_id: consumerId,
        user_id: userId,
        secret_enc: box.seal('s'),
        created_at: clock.now(),
      })
      .returning<Array<{ id: number }>>('id');
    return must(row, 'the inserted access token').id;
  };
  const alice = () =>
    s.users.create(OPERATOR, { username: 'alice', email: 'Alice@Example.com', password: 'another long one' });

  // ---- consumers ------------------------------------------------------------------------

  it('creates a consumer with a secret shown once, sealed at rest, and its audit entry', async () => {
    clock.t = T0 + 1000;
    const { consumer, secret } = await s.consumers.create(admin, {
      key: ' wiki ',
      name: ' Wiki ',
      callbackUrl: 'https://wiki.example.com/cb',
    });
    expect(consumer).toMatchObject({ key: 'wiki', name: 'Wiki', hasSecret: true, createdAt: T0 + 1000 });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = (await knex('consumers').where({ id: consumer.id }).first()) as { secret_enc: string };
    expect(row.secret_enc).not.toContain(must(secret, 'the secret shown once'));
    expect(await audit()).toEqual([
      { event: 'consumer.created', actor: 'root', consumerKey: 'wiki', ip: '192.0.2.1', detail: { by: 'admin' } },
    ]);
    const rsa = await s.consumers.create(OPERATOR, {
      key: 'jira',
      name: 'Jira',
      publicKeyPem: rsaKeys.publicKey,
      withSecret: false,
    });
    expect(rsa).toMatchObject({ consumer: { hasSecret: false, hasPublicKey: true }, secret: null });
    expect((await audit()).at(-1)).toMatchObject({ event: 'consumer.created', actor: null, detail: { by: 'cli' } });
  });

  it('refuses bad consumers with input errors, never a database error', async () => {
    for (const [input, field] of [
      [{ key: 'a\0b', name: 'x' }, 'key'],
      [{ key: 'k', name: 'na\0me' }, 'name'],
      [{ key: 'k', name: 'x', description: 'nul\0' }, 'description'],
      [{ key: 'k', name: 'x', callbackUrl: 'https://x.example/\0' }, 'callbackUrl'],
      [{ key: 'k', name: 'x', callbackUrl: 'oob' }, 'callbackUrl'],
      [{ key: 'k', name: 'x', publicKeyPem: 'not a key' }, 'publicKeyPem'],
      [{ key: 'k', name: 'x', withSecret: false }, 'publicKeyPem'],
      [{ key: 'k'.repeat(256), name: 'x' }, 'key'],
      [{ key: 'k', name: 'x'.repeat(201) }, 'name'],
    ] as const) {
      const e = await rejectsWith(s.consumers.create(admin, input), 'invalid_input');
      expect(Object.keys(e.fields)).toEqual([field]);
    }
    await s.consumers.create(admin, { key: 'dup', name: 'One' });
    await rejectsWith(s.consumers.create(admin, { key: 'dup', name: 'Two' }), 'conflict');
    expect(await rowCount(knex, 'consumers')).toBe(1);
  });

  it('updates, disables, enables and deletes a consumer, each audited once', async () => {
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    const u = await alice();
    await grantFor(u.id, consumer.id);
    const updated = await s.consumers.update(admin, { id: consumer.id }, { name: 'Wiki 2', callbackUrl: '' });
    expect(updated).toMatchObject({ name: 'Wiki 2', callbackUrl: null, description: '' });
    clock.t = T0 + 5000;
    expect((await s.consumers.setDisabled(admin, { id: consumer.id }, true)).changed).toBe(true);
    expect((await s.consumers.setDisabled(admin, { id: consumer.id }, true)).changed).toBe(false);
    expect(Number(((await knex('consumers').first()) as { disabled_at: number | string }).disabled_at)).toBe(T0 + 5000);
    expect((await s.consumers.setDisabled(admin, { key: 'wiki' }, false)).changed).toBe(true);
    expect(await s.consumers.delete(OPERATOR, { key: 'wiki' })).toMatchObject({ key: 'wiki' });
    expect(await rowCount(knex, 'access_tokens')).toBe(0);
    await rejectsWith(s.consumers.delete(admin, { key: 'wiki' }), 'not_found');
    await rejectsWith(s.consumers.update(admin, { id: 999 }, { name: 'x' }), 'not_found');
    expect((await audit()).map((e) => e.event)).toEqual([
      'consumer.created',
      'user.created',
      'consumer.updated',
      'consumer.disabled',
      'consumer.enabled',
      'consumer.deleted',
    ]);
    expect((await audit()).at(-1)).toMatchObject({ detail: { by: 'cli', consumerKey: 'wiki' } });
  });

  it('revokes all grants of a consumer with the count in the audit entry', async () => {
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    const u = await alice();
    await grantFor(u.id, consumer.id);
    await grantFor(u.id, consumer.id);
    expect((await s.consumers.revokeAllGrants(admin, { id: consumer.id })).count).toBe(2);
    expect((await s.consumers.revokeAllGrants(admin, { id: consumer.id })).count).toBe(0);
    const revoked = (await audit()).filter((e) => e.event === 'access_token.revoked_all');
    expect(revoked).toEqual([expect.objectContaining({ consumerKey: 'wiki', detail: { by: 'admin', count: 2 } })]);
  });

  // ---- users ----------------------------------------------------------------------------

  it('creates users with one email normal form and refuses what could merge two addresses', async () => {
    const u = await alice();
    expect(u).toMatchObject({ username: 'alice', email: 'alice@example.com', displayName: 'alice', isAdmin: false });
    expect((await s.users.findByEmail(' ALICE@example.com '))?.id).toBe(u.id);
    await rejectsWith(s.users.create(admin, { username: 'alice2', email: 'alice@EXAMPLE.com' }), 'conflict');
    await rejectsWith(s.users.create(admin, { username: 'kelvin', email: '\u212aelvin@example.com' }), 'invalid_input');
    const k = await s.users.create(admin, { username: 'k', email: 'k@example.com' });
    expect(await s.users.findByEmail('\u212a@example.com')).toBeNull();
    expect((await s.users.findByEmail('K@example.com'))?.id).toBe(k.id);
    for (const bad of [
      { username: 'a\0', email: 'a@example.com' },
      { username: 'ab', email: 'a\0@example.com' },
      { username: 'ab', email: 'ab@example.com', displayName: 'x\0y' },
      { username: 'ab', email: 'ab@example.com', password: 'password\0x' },
      { username: 'ab', email: 'ab@example.com', password: 'short' },
    ]) {
      await rejectsWith(s.users.create(admin, bad), 'invalid_input');
    }
    expect((await audit()).filter((e) => e.event === 'user.created')).toEqual([
      expect.objectContaining({ actor: null, detail: { by: 'cli', username: 'alice', admin: false } }),
      expect.objectContaining({ actor: 'root', detail: { by: 'admin', username: 'k', admin: false } }),
    ]);
    expect(await s.users.authenticate('alice', 'another long one')).toMatchObject({ id: u.id });
    expect(await s.users.authenticate('alice', 'wrong password')).toBeNull();
    expect(await s.users.authenticate('al\0ice', 'another long one')).toBeNull();
  });

  it('disables, enables, grants and revokes admin; an admin cannot do it to themselves', async () => {
    const u = await alice();
    expect(await s.users.setDisabled(admin, { id: u.id }, true)).toMatchObject({ disabled: true });
    expect(await s.users.setDisabled(OPERATOR, { username: 'alice' }, false)).toMatchObject({ disabled: false });
    expect(await s.users.setAdmin(admin, { id: u.id }, true)).toMatchObject({ isAdmin: true });
    expect(await s.users.setAdmin(admin, { id: u.id }, false)).toMatchObject({ isAdmin: false });
    for (const act of [
      () => s.users.setDisabled(admin, { id: root.id }, true),
      () => s.users.setAdmin(admin, { id: root.id }, false),
    ]) {
      await rejectsWith(act(), 'forbidden');
    }
    await rejectsWith(s.users.setDisabled(admin, { username: 'nobody' }, true), 'not_found');
    await rejectsWith(s.users.setDisabled(admin, { id: 0 }, true), 'invalid_input');
    expect((await audit()).map((e) => [e.event, e.detail])).toEqual([
      ['user.created', { by: 'cli', username: 'alice', admin: false }],
      ['user.disabled', { by: 'admin', username: 'alice' }],
      ['user.enabled', { by: 'cli', username: 'alice' }],
      ['user.admin_granted', { by: 'admin', username: 'alice' }],
      ['user.admin_revoked', { by: 'admin', username: 'alice' }],
    ]);
  });

  it('lets only administrators and the operator manage', async () => {
    const u = await alice();
    const asUser = userActor(u, null);
    const notAdminAnymore = adminActor({ ...u, isAdmin: false }, null);
    for (const who of [asUser, notAdminAnymore]) {
      await rejectsWith(s.consumers.create(who, { key: 'x', name: 'x' }), 'forbidden');
      await rejectsWith(s.users.create(who, { username: 'x', email: 'x@example.com' }), 'forbidden');
      await rejectsWith(s.users.setAdmin(who, { id: u.id }, true), 'forbidden');
    }
    await rejectsWith(
      s.users.create({ kind: 'sso', ip: null }, { username: 'x', email: 'x@e.com', isAdmin: true }),
      'forbidden',
    );
    expect(await rowCount(knex, 'consumers')).toBe(0);
  });

  it('changes the own display name through the API, audited with consumer and token', async () => {
    const u = await alice();
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    const tokenId = await grantFor(u.id, consumer.id);
    const changed = await s.users.updateOwnDisplayName(
      { user: u, consumerId: consumer.id, tokenId, ip: '::1' },
      ' Alice A ',
    );
    expect(changed.displayName).toBe('Alice A');
    await rejectsWith(
      s.users.updateOwnDisplayName({ user: u, consumerId: consumer.id, tokenId, ip: null }, 'x\0'),
      'invalid_input',
    );
    expect((await audit()).at(-1)).toEqual({
      event: 'user.updated',
      actor: 'alice',
      consumerKey: 'wiki',
      ip: '::1',
      detail: { field: 'displayName' },
    });
  });

  // ---- grants ---------------------------------------------------------------------------

  it('revokes a grant: a user their own only, an administrator any; once', async () => {
    const u = await alice();
    const bob = await s.users.create(OPERATOR, { username: 'bob', email: 'bob@example.com' });
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    const mine = await grantFor(u.id, consumer.id);
    const bobs = await grantFor(bob.id, consumer.id);
    expect(await s.grants.revoke(userActor(u, null), { id: bobs })).toBeNull();
    expect(await s.grants.revoke(userActor(u, '10.0.0.1'), { id: mine })).toMatchObject({
      id: mine,
      username: 'alice',
    });
    expect(await s.grants.revoke(userActor(u, null), { id: mine })).toBeNull();
    expect(await s.grants.revoke(admin, { id: bobs, consumerId: consumer.id + 1 })).toBeNull();
    expect(await s.grants.revoke(admin, { id: bobs, consumerId: consumer.id })).toMatchObject({ id: bobs });
    const revoked = (await audit()).filter((e) => e.event === 'access_token.revoked');
    expect(revoked).toEqual([
      { event: 'access_token.revoked', actor: 'alice', consumerKey: 'wiki', ip: '10.0.0.1', detail: { by: 'user' } },
      { event: 'access_token.revoked', actor: 'root', consumerKey: 'wiki', ip: '192.0.2.1', detail: { by: 'admin' } },
    ]);
    const token = await knex('access_tokens').where({ id: mine }).first<{ revoked_at: number | null } | undefined>();
    expect(token?.revoked_at).toBe(T0);
  });

  it("revokes all of a user's grants, only their own", async () => {
    const u = await alice();
    const bob = await s.users.create(OPERATOR, { username: 'bob', email: 'bob@example.com' });
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    await grantFor(u.id, consumer.id);
    await grantFor(u.id, consumer.id);
    await grantFor(bob.id, consumer.id);
    await rejectsWith(s.grants.revokeAll(userActor(u, null), { userId: bob.id }), 'forbidden');
    await rejectsWith(s.grants.revokeAll(userActor(u, null), {}), 'forbidden');
    expect(await s.grants.revokeAll(userActor(u, null), { userId: u.id })).toBe(2);
    expect(await s.grants.revokeAll(userActor(u, null), { userId: u.id })).toBe(0);
    expect((await s.grants.list({ consumerKey: 'wiki' })).map((g) => g.username)).toEqual(['bob']);
    expect((await audit()).filter((e) => e.event === 'access_token.revoked_all')).toEqual([
      expect.objectContaining({ actor: 'alice', detail: { by: 'user', count: 2 } }),
    ]);
  });

  // ---- setup ----------------------------------------------------------------------------

  it('creates the first administrator with the setup code, audits a wrong one, then closes', async () => {
    await knex('users').del();
    await knex('audit_events').del();
    const logs: string[] = [];
    // the code is only in the log: a FirstRun whose log this test reads
    const tx = new Transactor(knex, new AuditRepository(clock));
    const code = new FirstRun(
      knex,
      () => s.users.countAdmins(),
      createLogger({ logLevel: 'info' }, { write: (l: string) => void logs.push(l) }),
    );
    const service = new SetupService(tx, s.users, code, createBrakes(knex, clock, tx));
    await service.announce('http://x/setup');
    const setupCode = (JSON.parse(must(logs[0], 'the setup announcement')) as { setupCode: string }).setupCode;
    const user = { username: 'boss', email: 'boss@example.com', password: 'a long password' };
    await rejectsWith(service.createFirstAdmin({ setupCode: 'WRONG', ip: '::1' }, user), 'forbidden');
    await rejectsWith(service.createFirstAdmin({ setupCode, ip: '::1' }, { ...user, email: 'nul\0' }), 'invalid_input');
    const boss = await service.createFirstAdmin({ setupCode, ip: '::1' }, user);
    expect(boss).toMatchObject({ username: 'boss', isAdmin: true });
    expect(await service.isOpen()).toBe(false);
    await rejectsWith(service.createFirstAdmin({ setupCode, ip: '::1' }, user), 'not_found');
    expect((await audit()).map((e) => [e.event, e.actor, e.detail])).toEqual([
      ['setup.failed', null, { reason: 'wrong setup code' }],
      ['setup.completed', 'boss', { username: 'boss' }],
    ]);
  });

  it('brakes wrong setup codes per address: a braked attempt is not checked, and is sampled into the log', async () => {
    for (const t of ['users', 'audit_events', 'throttles']) await knex(t).del();
    const logs: string[] = [];
    const tx = new Transactor(knex, new AuditRepository(clock));
    const code = new FirstRun(
      knex,
      () => s.users.countAdmins(),
      createLogger({ logLevel: 'info' }, { write: (l: string) => void logs.push(l) }),
    );
    const service = new SetupService(tx, s.users, code, createBrakes(knex, clock, tx));
    await service.announce('http://x/setup');
    const setupCode = (JSON.parse(must(logs[0], 'the setup announcement')) as { setupCode: string }).setupCode;
    const user = { username: 'boss', email: 'boss@example.com', password: 'a long password' };
    const attempt = (ip: string, given: string) => service.createFirstAdmin({ setupCode: given, ip }, user);
    for (let i = 0; i < SETUP_LIMITS.perAddress; i++) await rejectsWith(attempt('192.0.2.9', 'WRONG'), 'forbidden');
    // braked: even the right code is not looked at
    for (let i = 0; i < 2; i++)
      expect((await rejectsWith(attempt('192.0.2.9', setupCode), 'throttled')).fields).toEqual({
        retryAfter: String(SETUP_LIMITS.windowMs / 1000),
      });
    expect(await service.isOpen()).toBe(true);
    // another address is not braked, and the code still works
    expect(await attempt('192.0.2.10', setupCode)).toMatchObject({ username: 'boss' });
    const entries = await audit();
    expect(entries.filter((e) => e.event === 'setup.failed')).toHaveLength(SETUP_LIMITS.perAddress);
    expect(entries.filter((e) => e.event === 'setup.throttled')).toEqual([
      { event: 'setup.throttled', actor: null, consumerKey: null, ip: '192.0.2.9', detail: { count: 1 } },
    ]);
  });

  // ---- atomicity ------------------------------------------------------------------------

  it('a failure after the change (the audit insert) leaves neither the change nor its audit entry', async () => {
    const u = await alice();
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    const grant = await grantFor(u.id, consumer.id);
    await grantFor(u.id, consumer.id);
    const f = failing;
    const actions: Array<[string, () => Promise<unknown>]> = [
      ['consumers.create', () => f.consumers.create(admin, { key: 'new', name: 'New' })],
      ['consumers.update', () => f.consumers.update(admin, { id: consumer.id }, { name: 'Renamed' })],
      ['consumers.setDisabled', () => f.consumers.setDisabled(admin, { id: consumer.id }, true)],
      ['consumers.revokeAllGrants', () => f.consumers.revokeAllGrants(admin, { id: consumer.id })],
      ['consumers.delete', () => f.consumers.delete(admin, { id: consumer.id })],
      ['users.create', () => f.users.create(admin, { username: 'new', email: 'new@example.com' })],
      ['users.setDisabled', () => f.users.setDisabled(admin, { id: u.id }, true)],
      ['users.setAdmin', () => f.users.setAdmin(admin, { id: u.id }, true)],
      [
        'users.updateOwnDisplayName',
        () => f.users.updateOwnDisplayName({ user: u, consumerId: consumer.id, tokenId: grant, ip: null }, 'Changed'),
      ],
      ['grants.revoke', () => f.grants.revoke(userActor(u, null), { id: grant })],
      ['grants.revokeAll', () => f.grants.revokeAll(userActor(u, null), { userId: u.id })],
      ['sso provisioning', () => f.sso.create({ username: 'sso', email: 'sso@example.com' })],
    ];
    for (const [name, act] of actions) {
      const before = await snapshot();
      await expect(act(), name).rejects.toThrow('the audit log is down');
      expect(await snapshot(), name).toEqual(before);
    }
  });

  it('a throw inside the transaction after the change and its audit entry rolls back both', async () => {
    const tx = new Transactor(knex, new AuditRepository(clock), (e) => observed.push(e));
    const repo = new UserRepository(clock);
    const before = await snapshot();
    await expect(
      tx.run(async (t) => {
        await repo.setDisabled(t.db, root.id, true);
        await t.audit(OPERATOR, { event: 'user.disabled', detail: { username: 'root' } });
        throw new Error('crash after both');
      }),
    ).rejects.toThrow('crash after both');
    expect(await snapshot()).toEqual(before);
    expect(observed).toEqual([]); // metrics hear only of committed entries
    await tx.run((t) => t.audit(OPERATOR, { event: 'x.y' }));
    expect(observed.map((e) => e.event)).toEqual(['x.y']);
  });
});
