// Signing in (src/services/sign-in.ts) on both databases: with a password through the
// brakes, with the proxy's assertion, and the audit entries each writes (login.succeeded
// only once the session exists; refusals that a flood could repeat sampled).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import type { Database } from '../../src/db';
import type { Clock, UserRecord } from '../../src/oauth1/ports';
import type { SingleSignOn, SsoOutcome } from '../../src/sso';
import { OPERATOR } from '../../src/services/actor';
import { SIGN_IN_LIMITS } from '../../src/services/brakes';
import { migratedDatabase, type FreshDatabase } from '../helpers/db';
import { testDatabases } from '../helpers/server';
import { servicesOn } from '../helpers/services';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const IP = '192.0.2.7';

/** A proxy whose every assertion has the outcome given. */
const proxy = (outcome: SsoOutcome): SingleSignOn => ({
  header: 'cf-access-jwt-assertion',
  cookie: 'CF_Authorization',
  signIn: () => Promise.resolve(outcome),
  warm: () => Promise.resolve(),
});

describe.each(await testDatabases())('sign-in service on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  let knex: Knex;
  const clock: Clock & { t: number } = { t: T0, now: () => clock.t };
  let s: ReturnType<typeof servicesOn>;
  let alice: UserRecord;
  let bob: UserRecord;

  beforeAll(async () => {
    ({ fresh, db } = await migratedDatabase(kind));
    knex = db.knex;
  });
  afterAll(() => fresh.cleanup());

  beforeEach(async () => {
    for (const t of ['throttles', 'audit_events', 'users']) await knex(t).del();
    clock.t = T0;
    s = servicesOn(db, { clock });
    alice = await s.users.create(OPERATOR, {
      username: 'alice',
      email: 'alice@example.com',
      password: 'a long password',
    });
    bob = await s.users.create(OPERATOR, { username: 'bob', email: 'bob@example.com', password: 'another long one' });
    await knex('audit_events').del();
  });

  const audit = async () =>
    (await s.audits.list({ limit: 100 })).reverse().map((e) => ({
      at: e.at,
      event: e.event,
      actor: e.actor,
      ip: e.ip,
      detail: e.detail === null ? null : (JSON.parse(e.detail) as unknown),
    }));

  /** A startSession that records whom it signed in, and what the audit log held then. */
  const sessions = () => {
    const started: Array<{ user: string; entriesBefore: number }> = [];
    const start = async (user: UserRecord) => {
      started.push({ user: user.username, entriesBefore: (await audit()).length });
    };
    return { started, start };
  };

  it('a right password starts the session, then writes login.succeeded', async () => {
    const { started, start } = sessions();
    const r = await s.signIn.withPassword({ username: 'alice', password: 'a long password', ip: IP }, start);
    expect(r).toEqual({ ok: true, user: alice });
    expect(started).toEqual([{ user: 'alice', entriesBefore: 0 }]);
    expect(await audit()).toEqual([{ at: T0, event: 'login.succeeded', actor: 'alice', ip: IP, detail: null }]);
  });

  it('no session, no login.succeeded: a failing session start leaves no entry', async () => {
    const failing = () => Promise.reject(new Error('the session store is down'));
    await expect(
      s.signIn.withPassword({ username: 'alice', password: 'a long password', ip: IP }, failing),
    ).rejects.toThrow('the session store is down');
    expect(await audit()).toEqual([]);
  });

  it('a wrong password or a disabled account is refused alike, each audited as login.failed', async () => {
    const { started, start } = sessions();
    expect(await s.signIn.withPassword({ username: 'alice', password: 'wrong password', ip: IP }, start)).toEqual({
      ok: false,
      reason: 'refused',
    });
    await s.users.setDisabled(OPERATOR, { username: 'bob' }, true);
    await knex('audit_events').where({ event: 'user.disabled' }).del();
    expect(await s.signIn.withPassword({ username: 'bob', password: 'another long one', ip: IP }, start)).toEqual({
      ok: false,
      reason: 'refused',
    });
    expect(
      await s.signIn.withPassword({ username: 'alice', password: 'x'.repeat(2000), ip: null }, start),
    ).toMatchObject({ ok: false, reason: 'refused' });
    expect(started).toEqual([]);
    expect(await audit()).toEqual([
      { at: T0, event: 'login.failed', actor: null, ip: IP, detail: { reason: 'bad credentials' } },
      { at: T0, event: 'login.failed', actor: null, ip: IP, detail: { reason: 'disabled' } },
      { at: T0, event: 'login.failed', actor: null, ip: null, detail: { reason: 'bad credentials' } },
    ]);
  });

  it('past the free failures the brakes answer before the password is checked; refusals are sampled', async () => {
    const { started, start } = sessions();
    for (let i = 0; i < SIGN_IN_LIMITS.freeFailures; i++)
      await s.signIn.withPassword({ username: 'alice', password: 'wrong password', ip: IP }, start);
    const braked = await s.signIn.withPassword({ username: 'alice', password: 'a long password', ip: IP }, start);
    expect(braked).toEqual({ ok: false, reason: 'throttled', retryAfterS: SIGN_IN_LIMITS.firstDelayMs / 1000 });
    await s.signIn.withPassword({ username: 'ALICE', password: 'a long password', ip: IP }, start);
    expect(started).toEqual([]);
    const throttled = (await audit()).filter((e) => e.event === 'login.throttled');
    // the 1st of its kind from this address is written with its count; the 2nd is not
    expect(throttled).toEqual([
      { at: T0, event: 'login.throttled', actor: null, ip: IP, detail: { by: 'account', count: 1 } },
    ]);
    // once the delay has passed, the right password goes through and clears the pair
    clock.t += SIGN_IN_LIMITS.firstDelayMs;
    expect(
      await s.signIn.withPassword({ username: 'alice', password: 'a long password', ip: IP }, start),
    ).toMatchObject({ ok: true });
  });

  it("a valid assertion signs its user in on a page view, replacing someone else's session", async () => {
    const { started, start } = sessions();
    const sso = proxy({ ok: true, user: alice, provisioned: false });
    const page = { assertion: 'jwt', ip: IP, mayChangeUser: true };
    expect(await s.signIn.withAssertion(sso, { ...page, current: alice }, start)).toEqual({ user: alice });
    expect(await s.signIn.withAssertion(sso, { ...page, current: null }, start)).toEqual({ user: alice });
    expect(await s.signIn.withAssertion(sso, { ...page, current: bob }, start)).toEqual({ user: alice });
    // a form post never switches identity
    expect(await s.signIn.withAssertion(sso, { ...page, current: bob, mayChangeUser: false }, start)).toEqual({
      user: null,
    });
    const provisioned = proxy({ ok: true, user: bob, provisioned: true });
    await s.signIn.withAssertion(provisioned, { ...page, current: null }, start);
    expect(started).toEqual([
      { user: 'alice', entriesBefore: 0 },
      { user: 'alice', entriesBefore: 1 },
      { user: 'bob', entriesBefore: 2 },
    ]);
    expect(await audit()).toEqual([
      { at: T0, event: 'sso.login', actor: 'alice', ip: IP, detail: {} },
      { at: T0, event: 'sso.login', actor: 'alice', ip: IP, detail: { replaced: 'bob' } },
      { at: T0, event: 'sso.login', actor: 'bob', ip: IP, detail: { provisioned: true } },
    ]);
  });

  it('a refused assertion signs no one in and no one out; refusals are sampled per reason', async () => {
    const { started, start } = sessions();
    const sso = proxy({ ok: false, reason: 'user_disabled', userId: bob.id });
    const page = { assertion: 'jwt', ip: IP, mayChangeUser: true };
    expect(await s.signIn.withAssertion(sso, { ...page, current: alice }, start)).toEqual({ user: alice });
    for (let i = 0; i < 10; i++)
      expect(await s.signIn.withAssertion(sso, { ...page, current: null }, start)).toEqual({
        user: null,
        refused: 'user_disabled',
      });
    expect(started).toEqual([]);
    expect(await audit()).toEqual([
      { at: T0, event: 'sso.refused', actor: 'bob', ip: IP, detail: { reason: 'user_disabled', count: 1 } },
      { at: T0, event: 'sso.refused', actor: 'bob', ip: IP, detail: { reason: 'user_disabled', count: 10 } },
    ]);
  });
});
