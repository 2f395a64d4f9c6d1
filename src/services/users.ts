/**
 * Users: the management actions of the admin console, first-run setup, single sign-on and
 * the CLI (create, disable/enable, grant/revoke administrator), the display-name change
 * through the API, and signing in with a password. Each action takes the actor and its
 * input, checks the actor may, and writes the change with its audit entry in one
 * transaction.
 */
import { z } from 'zod';
import type { UserRecord } from '../oauth1/ports';
import type { UserListing, UserRepository } from '../db/users';
import type { Queryable } from '../db/queryable';
import { hashPassword, verifyPassword } from '../secret-box';
import { requireAdministrator, type Actor } from './actor';
import { conflict, forbidden, invalidInput, notFound, refused, throttled } from '../errors';
import type { Brakes } from './brakes';
import {
  displayNameField,
  emailField,
  FIELD_LIMITS,
  hasControlCharacters,
  idField,
  normaliseEmail,
  parseInput,
  passwordField,
  usernameField,
} from '../fields';
import type { Transactor } from './transaction';
import type { HotPath } from '../db/hot-path';
import { toUser } from '../db/rows';

export type { UserListing } from '../db/users';

/** A new user, as the console and setup forms, the CLI and single sign-on give it. */
export const newUserInput = z.object({
  username: usernameField,
  email: emailField,
  /** defaults to the username */
  displayName: displayNameField.optional(),
  /** none: the user can only sign in through single sign-on */
  password: passwordField.optional(),
  isAdmin: z.boolean().default(false),
});
export type NewUserInput = z.input<typeof newUserInput>;

/** Which user: by id (console) or by username (CLI). */
export const userRefInput = z.union([z.object({ id: idField }), z.object({ username: usernameField })]);
export type UserRef = { id: number } | { username: string };

/** What the self-protection refusals say, per action (an admin cannot lock themselves out). */
const SELF_REFUSAL = {
  disable: 'You cannot disable your own account.',
  enable: 'You cannot enable your own account.',
  grantAdmin: 'You are an administrator already.',
  revokeAdmin: 'You cannot remove your own administrator rights.',
  setPassword: 'Change your own password on your profile page, with your current one.',
} as const;

export class UserService {
  constructor(
    private readonly tx: Transactor,
    private readonly users: UserRepository,
    /**
     * The sign-in brakes (src/services/brakes.ts): the current password asked for by a
     * password change is guessed no faster than at sign-in, on the same account-and-address
     * pair.
     */
    private readonly brakes: Pick<Brakes, 'signIn'>,
    /**
     * The hot path's prepared statements for the API's display-name change (db/hot-path.ts:
     * no knex; on SQLite the writes of one event-loop round in one transaction, on
     * PostgreSQL one statement). Without it, a knex transaction does the same.
     */
    private readonly hot?: Pick<HotPath, 'setDisplayName'>,
  ) {}

  // ---- reads ----------------------------------------------------------------------------

  list(): Promise<UserListing[]> {
    return this.users.list(this.tx.db);
  }

  /** The user of a session, and the session generation it must carry to still be valid. */
  findForSession(id: number): Promise<{ user: UserRecord; generation: number } | null> {
    return this.users.findForSession(this.tx.db, id);
  }

  findById(id: number): Promise<UserRecord | null> {
    return this.users.findById(this.tx.db, id);
  }

  findByUsername(username: string): Promise<UserRecord | null> {
    return this.users.findByUsername(this.tx.db, username);
  }

  /** By email in any spelling of its normal form; null for an address that has none. */
  async findByEmail(email: string): Promise<UserRecord | null> {
    const normal = normaliseEmail(email);
    return normal === null ? null : this.users.findByEmail(this.tx.db, normal);
  }

  /** Whether the user has a password here (an account made by single sign-on has none). */
  async hasPassword(id: number): Promise<boolean> {
    const user = await this.users.findById(this.tx.db, id);
    if (!user) return false;
    return (await this.users.findWithPasswordHash(this.tx.db, user.username))?.passwordHash != null;
  }

  /** Enabled administrators (first-run setup is open while there are none). */
  countAdmins(): Promise<number> {
    return this.users.countAdmins(this.tx.db);
  }

  /** The user if the password is right; the same work is done for unknown usernames. */
  async authenticate(username: string, password: string): Promise<UserRecord | null> {
    // A name no account can have (controls, NUL, absurd length) is not sent to the database.
    if (username.length > FIELD_LIMITS.email || hasControlCharacters(username)) {
      await verifyPassword(password, null);
      return null;
    }
    const found = await this.users.findWithPasswordHash(this.tx.db, username);
    const ok = await verifyPassword(password, found?.passwordHash ?? null);
    return ok && found ? found.user : null;
  }

  // ---- actions --------------------------------------------------------------------------

  /**
   * Creates the user: administrators and the operator; single sign-on for a person the
   * proxy vouched for (never an administrator, never a password). The first administrator
   * is created by SetupService. Audit: `user.created`.
   */
  async create(actor: Actor, input: NewUserInput): Promise<UserRecord> {
    if (actor.kind !== 'sso') requireAdministrator(actor);
    const u = parseInput(newUserInput, input);
    if (actor.kind === 'sso' && (u.isAdmin || u.password !== undefined))
      throw forbidden('single sign-on creates ordinary users without a password');
    const passwordHash = u.password === undefined ? null : await hashPassword(u.password);
    return this.tx.run(async (t) => {
      const user = await this.insert(t.db, { ...u, passwordHash });
      await t.audit(actor, { event: 'user.created', detail: { username: user.username, admin: user.isAdmin } });
      return user;
    });
  }

  /**
   * Disables (signed out everywhere, every app acting for them stops) or enables the user.
   * Refused on oneself. Audit `user.disabled` / `user.enabled`.
   */
  setDisabled(actor: Actor, ref: UserRef, disabled: boolean): Promise<UserRecord> {
    return this.change(
      actor,
      ref,
      disabled ? 'disable' : 'enable',
      disabled ? 'user.disabled' : 'user.enabled',
      (db, id) => this.users.setDisabled(db, id, disabled),
    );
  }

  /** Grants or revokes administrator rights. Refused on oneself. Audit `user.admin_granted` / `user.admin_revoked`. */
  setAdmin(actor: Actor, ref: UserRef, isAdmin: boolean): Promise<UserRecord> {
    return this.change(
      actor,
      ref,
      isAdmin ? 'grantAdmin' : 'revokeAdmin',
      isAdmin ? 'user.admin_granted' : 'user.admin_revoked',
      (db, id) => this.users.setAdmin(db, id, isAdmin),
    );
  }

  /**
   * An administrator (or the operator) sets another user's password, e.g. when they forgot
   * it; the administrator hands it over. Refused on oneself (the profile page asks for the
   * current password). Audit `user.password_set` (never the password).
   */
  async setPassword(actor: Actor, ref: UserRef, password: string): Promise<UserRecord> {
    requireAdministrator(actor);
    const hash = await hashPassword(parseInput(passwordField, password));
    return this.change(actor, ref, 'setPassword', 'user.password_set', (db, id) =>
      this.users.setPasswordHash(db, id, hash),
    );
  }

  /**
   * A signed-in user changes their own password; the current one is required (a session
   * left open is not enough). Audit `user.password_changed`.
   */
  async changeOwnPassword(actor: Actor, input: { currentPassword: string; newPassword: string }): Promise<UserRecord> {
    if (actor.kind !== 'user' && actor.kind !== 'admin')
      throw forbidden('only a signed-in user changes their own password');
    const newPassword = parseInput(passwordField, input.newPassword);
    const verdict = await this.brakes.signIn(actor.user.username, actor.ip ?? '');
    if (!verdict.ok) {
      throw throttled('Too many wrong passwords. Wait a few minutes and try again.', verdict.retryAfterS);
    }
    const found = await this.users.findWithPasswordHash(this.tx.db, actor.user.username);
    if (!found?.passwordHash) {
      await verdict.release(false);
      throw refused('your account signs in through single sign-on and has no password here');
    }
    if (!(await verifyPassword(input.currentPassword, found.passwordHash))) {
      await verdict.release(false);
      throw invalidInput('the current password is not right', 'currentPassword');
    }
    await verdict.release(true);
    const hash = await hashPassword(newPassword);
    return this.tx.run(async (t) => {
      const user = await this.users.setPasswordHash(t.db, actor.user.id, hash);
      if (!user) throw notFound('the user no longer exists');
      await t.audit(actor, { event: 'user.password_changed', detail: { username: user.username } });
      return user;
    });
  }

  /**
   * The user's own display name, changed through the API with an access token. Audit
   * `user.updated` with the consumer and token it came through.
   */
  async updateOwnDisplayName(
    via: { user: UserRecord; consumerId: number; tokenId: number; ip: string | null },
    displayName: string,
  ): Promise<UserRecord> {
    const name = parseInput(displayNameField, displayName);
    const audit = {
      event: 'user.updated',
      actorUserId: via.user.id,
      consumerId: via.consumerId,
      tokenId: via.tokenId,
      ip: via.ip,
      detail: { field: 'displayName' },
    };
    if (this.hot) {
      // the change and its audit entry, both or neither, committed before this returns
      const row = await this.hot.setDisplayName(via.user.id, name, audit, this.tx.now());
      if (!row) throw notFound('the user no longer exists');
      this.tx.observe(audit);
      return toUser(row);
    }
    return this.tx.run(async (t) => {
      const user = await this.users.setDisplayName(t.db, via.user.id, name);
      if (!user) throw notFound('the user no longer exists');
      await t.audit(null, audit);
      return user;
    });
  }

  /** Inserts inside the caller's transaction; ServiceError('conflict') when the username or email is taken. */
  async insert(
    db: Queryable,
    u: {
      username: string;
      email: string;
      displayName?: string | undefined;
      isAdmin: boolean;
      passwordHash: string | null;
    },
  ): Promise<UserRecord> {
    const user = await this.users.insert(db, {
      username: u.username,
      email: u.email,
      displayName: u.displayName ?? u.username,
      passwordHash: u.passwordHash,
      isAdmin: u.isAdmin,
    });
    if (!user) throw conflict('a user with this username or email already exists');
    return user;
  }

  private async change(
    actor: Actor,
    ref: UserRef,
    action: keyof typeof SELF_REFUSAL,
    event: string,
    write: (db: Queryable, id: number) => Promise<UserRecord | null>,
  ): Promise<UserRecord> {
    requireAdministrator(actor);
    const target = parseInput(userRefInput, ref);
    return this.tx.run(async (t) => {
      const found =
        'id' in target
          ? await this.users.findById(t.db, target.id)
          : await this.users.findByUsername(t.db, target.username);
      if (!found) throw notFound('id' in target ? `no user with id ${target.id}` : `no user ${target.username}`);
      if (actor.kind === 'admin' && actor.user.id === found.id) throw forbidden(SELF_REFUSAL[action]);
      const changed = await write(t.db, found.id);
      if (!changed) throw notFound(`no user ${found.username}`);
      await t.audit(actor, { event, detail: { username: changed.username } });
      return changed;
    });
  }
}
