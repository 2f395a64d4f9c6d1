// The recovery actions of issue 13 on both databases: replacing a consumer's public key,
// a user changing their own password, an administrator setting another's, enabling a user,
// and revoking an application as a whole. Each writes its change and its audit entry in one
// transaction (a failing audit insert leaves neither), and refuses who may not.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import type { Database } from '../../src/db';
import { SecretBox } from '../../src/secret-box';
import type { UserRecord } from '../../src/oauth1/ports';
import { adminActor, OPERATOR, userActor, type Actor } from '../../src/services/actor';
import { rsaKeys, testDatabases } from '../helpers/server';
import { migratedDatabase, type FreshDatabase } from '../helpers/db';
import { FailingAudits, rejectsWith, servicesOn } from '../helpers/services';
import { must } from '../helpers/must';

const box = new SecretBox(randomBytes(32));

const pem = (bits: number) =>
  generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }).publicKey;

describe.each(await testDatabases())('recovery actions on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  let knex: Knex;
  let s: ReturnType<typeof servicesOn>;
  let failing: ReturnType<typeof servicesOn>;
  let root: UserRecord;
  let alice: UserRecord;
  let admin: Actor;
  const newKey = pem(3072);

  beforeAll(async () => {
    ({ fresh, db } = await migratedDatabase(kind));
    knex = db.knex;
  });
  afterAll(() => fresh.cleanup());

  beforeEach(async () => {
    for (const t of ['access_tokens', 'request_tokens', 'nonces', 'audit_events', 'consumers', 'users'])
      await knex(t).del();
    s = servicesOn(db, { box });
    failing = servicesOn(db, { box, audits: new FailingAudits({ now: () => Date.now() }) });
    root = await s.users.create(OPERATOR, {
      username: 'root',
      email: 'root@example.com',
      password: 'a long password',
      isAdmin: true,
    });
    alice = await s.users.create(OPERATOR, {
      username: 'alice',
      email: 'alice@example.com',
      password: 'alice password',
    });
    admin = adminActor(root, '192.0.2.1');
  });

  const events = async (event: string) =>
    (await s.audits.list({ event, limit: 100 })).map((e) => ({
      actor: e.actor,
      consumerKey: e.consumerKey,
      detail: e.detail === null ? null : (JSON.parse(e.detail) as Record<string, unknown>),
    }));
  const snapshot = async () => ({
    users: await knex('users').orderBy('id'),
    consumers: await knex('consumers').orderBy('id'),
    tokens: await knex('access_tokens').orderBy('id'),
    audit: await knex('audit_events').count({ n: '*' }).first(),
  });

  it("replaces a consumer's public key: RSA of 2048 bits or more, audited; others refused", async () => {
    const { consumer } = await s.consumers.create(admin, {
      key: 'jira',
      name: 'Jira',
      publicKeyPem: rsaKeys.publicKey,
    });
    const replaced = await s.consumers.replacePublicKey(admin, { id: consumer.id }, newKey);
    expect(replaced.hasPublicKey).toBe(true);
    const row = (await knex('consumers').where({ id: consumer.id }).first()) as { public_key: string };
    expect(row.public_key).toBe(newKey.trim());
    expect(await events('consumer.public_key_replaced')).toEqual([
      { actor: 'root', consumerKey: 'jira', detail: { by: 'admin' } },
    ]);
    // The operator too, by key; a secret-only consumer gains RSA signing.
    const { consumer: hmac } = await s.consumers.create(admin, { key: 'hmac', name: 'HMAC only' });
    expect((await s.consumers.replacePublicKey(OPERATOR, { key: 'hmac' }, newKey)).hasPublicKey).toBe(true);
    expect(hmac.hasPublicKey).toBe(false);

    await rejectsWith(s.consumers.replacePublicKey(admin, { id: consumer.id }, pem(1024)), 'invalid_input');
    await rejectsWith(s.consumers.replacePublicKey(admin, { id: consumer.id }, 'not a key'), 'invalid_input');
    await rejectsWith(s.consumers.replacePublicKey(admin, { id: consumer.id }, '  '), 'invalid_input');
    await rejectsWith(s.consumers.replacePublicKey(userActor(alice, null), { id: consumer.id }, newKey), 'forbidden');
    await rejectsWith(s.consumers.replacePublicKey(admin, { key: 'nope' }, newKey), 'not_found');
    expect(((await knex('consumers').where({ id: consumer.id }).first()) as { public_key: string }).public_key).toBe(
      newKey.trim(),
    );
  });

  it('a user changes their own password with the current one', async () => {
    const me = userActor(alice, '10.0.0.1');
    await rejectsWith(
      s.users.changeOwnPassword(me, { currentPassword: 'wrong', newPassword: 'a new password' }),
      'invalid_input',
    );
    await rejectsWith(
      s.users.changeOwnPassword(me, { currentPassword: 'alice password', newPassword: 'short' }),
      'invalid_input',
    );
    await rejectsWith(
      s.users.changeOwnPassword(OPERATOR, { currentPassword: 'alice password', newPassword: 'a new password' }),
      'forbidden',
    );
    expect(await s.users.authenticate('alice', 'alice password')).not.toBeNull();
    await s.users.changeOwnPassword(me, { currentPassword: 'alice password', newPassword: 'a new password' });
    expect(await s.users.authenticate('alice', 'alice password')).toBeNull();
    expect(await s.users.authenticate('alice', 'a new password')).toMatchObject({ username: 'alice' });
    expect(await events('user.password_changed')).toEqual([
      { actor: 'alice', consumerKey: null, detail: { by: 'user', username: 'alice' } },
    ]);
    // An account made by single sign-on has no password to change.
    const sso = await s.sso.create({ username: 'sso', email: 'sso@example.com' });
    await rejectsWith(
      s.users.changeOwnPassword(userActor(sso, null), { currentPassword: '', newPassword: 'a new password' }),
      'refused',
    );
  });

  it("an administrator or the operator sets another user's password; never their own this way", async () => {
    await s.users.setPassword(admin, { id: alice.id }, 'set by the admin');
    expect(await s.users.authenticate('alice', 'set by the admin')).not.toBeNull();
    await s.users.setPassword(OPERATOR, { username: 'alice' }, 'set by the operator');
    expect(await s.users.authenticate('alice', 'set by the operator')).not.toBeNull();
    await rejectsWith(s.users.setPassword(admin, { id: root.id }, 'my own new one'), 'forbidden');
    await rejectsWith(s.users.setPassword(userActor(alice, null), { id: root.id }, 'taking over'), 'forbidden');
    await rejectsWith(s.users.setPassword(admin, { id: alice.id }, 'short'), 'invalid_input');
    expect(await s.users.authenticate('root', 'a long password')).not.toBeNull();
    const set = await events('user.password_set');
    expect(set).toHaveLength(2);
    expect(set.map((e) => e.detail)).toEqual([
      { by: 'cli', username: 'alice' },
      { by: 'admin', username: 'alice' },
    ]);
    // never the password in the audit log
    expect(JSON.stringify(await knex('audit_events'))).not.toContain('set by the');
  });

  it('revokes an application as a whole: every token of it for the user, one audit entry', async () => {
    const { consumer } = await s.consumers.create(admin, { key: 'wiki', name: 'Wiki' });
    const { consumer: other } = await s.consumers.create(admin, { key: 'other', name: 'Other' });
    const grant = async (userId: number, consumerId: number) => {
      const [row] = await knex('access_tokens')
        .insert({
          token_hash: randomBytes(32).toString('hex'),
          consumer_id: consumerId,
          user_id: userId,
          secret_enc: box.seal('s'),
          created_at: Date.now(),
        })
        .returning<Array<{ id: number }>>('id');
      return must(row, 'the inserted access token').id;
    };
    const first = await grant(alice.id, consumer.id);
    await grant(alice.id, consumer.id);
    await grant(alice.id, other.id);
    const roots = await grant(root.id, consumer.id);
    expect(await s.grants.revokeApplication(userActor(alice, null), { id: roots })).toBeNull();
    const app = await s.grants.revokeApplication(userActor(alice, null), { id: first });
    expect(app).toMatchObject({ consumerKey: 'wiki', tokens: 2 });
    expect(await s.grants.revokeApplication(userActor(alice, null), { id: first })).toBeNull();
    expect((await s.grants.list({ userId: alice.id })).map((g) => g.consumerKey)).toEqual(['other']);
    expect((await s.grants.list({ userId: root.id })).map((g) => g.id)).toEqual([roots]);
    expect(await events('access_token.revoked')).toEqual([
      { actor: 'alice', consumerKey: 'wiki', detail: { by: 'user', count: 2, username: 'alice' } },
    ]);
  });

  it('enables a disabled user again (the operator: applink user enable)', async () => {
    await s.users.setDisabled(OPERATOR, { username: 'alice' }, true);
    expect((await s.users.findByUsername('alice'))?.disabled).toBe(true);
    await s.users.setDisabled(OPERATOR, { username: 'alice' }, false);
    expect((await s.users.findByUsername('alice'))?.disabled).toBe(false);
    expect((await events('user.enabled')).map((e) => e.detail)).toEqual([{ by: 'cli', username: 'alice' }]);
  });

  it('a failing audit insert leaves neither the change nor its audit entry', async () => {
    const { consumer } = await s.consumers.create(admin, {
      key: 'jira',
      name: 'Jira',
      publicKeyPem: rsaKeys.publicKey,
    });
    const f = failing;
    const [row] = await knex('access_tokens')
      .insert({
        token_hash: randomBytes(32).toString('hex'),
        consumer_id: consumer.id,
        user_id: alice.id,
        secret_enc: box.seal('s'),
        created_at: Date.now(),
      })
      .returning<Array<{ id: number }>>('id');
    const grant = must(row, 'the inserted access token').id;
    const actions: Array<[string, () => Promise<unknown>]> = [
      ['consumers.replacePublicKey', () => f.consumers.replacePublicKey(admin, { id: consumer.id }, newKey)],
      ['users.setPassword', () => f.users.setPassword(admin, { id: alice.id }, 'a new password')],
      [
        'users.changeOwnPassword',
        () =>
          f.users.changeOwnPassword(userActor(alice, null), {
            currentPassword: 'alice password',
            newPassword: 'a new password',
          }),
      ],
      ['grants.revokeApplication', () => f.grants.revokeApplication(userActor(alice, null), { id: grant })],
    ];
    for (const [name, act] of actions) {
      const before = await snapshot();
      await expect(act(), name).rejects.toThrow('the audit log is down');
      expect(await snapshot(), name).toEqual(before);
    }
  });
});
