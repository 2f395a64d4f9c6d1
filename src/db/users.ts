/**
 * Users: local accounts (password) and, with single sign-on, accounts known by email.
 * Rows in, records out; the rules (who may change what, the field shapes, password
 * hashing) live in src/services/users.ts.
 */
import type { Clock, UserRecord } from '../oauth1/ports';
import { toUser, type UserRow } from './rows';
import type { Queryable } from './queryable';

export interface UserInsert {
  username: string;
  /** in its normal form (src/fields.ts normaliseEmail) */
  email: string;
  displayName: string;
  passwordHash: string | null;
  isAdmin: boolean;
}

export type UserListing = UserRecord & { createdAt: number };

export class UserRepository {
  constructor(private readonly clock: Clock) {}

  /** Inserts the user; null when the username or the email is taken. */
  async insert(db: Queryable, u: UserInsert): Promise<UserRecord | null> {
    const rows = (await db('users')
      .insert({
        username: u.username,
        email: u.email,
        display_name: u.displayName,
        password_hash: u.passwordHash,
        is_admin: u.isAdmin,
        created_at: this.clock.now(),
      })
      .onConflict()
      .ignore()
      .returning('*')) as UserRow[];
    const row = rows[0];
    return row ? toUser(row) : null;
  }

  async findById(db: Queryable, id: number): Promise<UserRecord | null> {
    const row = (await db('users').where({ id }).first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async findByUsername(db: Queryable, username: string): Promise<UserRecord | null> {
    const row = (await db('users').where({ username }).first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  /** By the email's normal form (exact match). */
  async findByEmail(db: Queryable, email: string): Promise<UserRecord | null> {
    const row = (await db('users').where({ email }).first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  /** The user and their password hash, for signing in. */
  async findWithPasswordHash(
    db: Queryable,
    username: string,
  ): Promise<{ user: UserRecord; passwordHash: string | null } | null> {
    const row = (await db('users').where({ username }).first()) as UserRow | undefined;
    return row ? { user: toUser(row), passwordHash: row.password_hash } : null;
  }

  async list(db: Queryable): Promise<UserListing[]> {
    const rows = (await db('users').orderBy('id')) as UserRow[];
    return rows.map((r) => ({ ...toUser(r), createdAt: r.created_at }));
  }

  /** Disables (now) or enables; the user as it is now, or null when there is no such user. */
  async setDisabled(db: Queryable, id: number, disabled: boolean): Promise<UserRecord | null> {
    return this.patch(db, id, { disabled_at: disabled ? this.clock.now() : null });
  }

  async setAdmin(db: Queryable, id: number, isAdmin: boolean): Promise<UserRecord | null> {
    return this.patch(db, id, { is_admin: isAdmin });
  }

  async setDisplayName(db: Queryable, id: number, displayName: string): Promise<UserRecord | null> {
    return this.patch(db, id, { display_name: displayName });
  }

  /**
   * A new password hash (null: no password, single sign-on only). The session generation
   * moves on in the same statement: every session signed in before is over.
   */
  async setPasswordHash(db: Queryable, id: number, passwordHash: string | null): Promise<UserRecord | null> {
    return this.patch(db, id, { password_hash: passwordHash, session_generation: db.raw('session_generation + 1') });
  }

  /** The user with the session generation a session must carry (src/http/web/session.ts). */
  async findForSession(db: Queryable, id: number): Promise<{ user: UserRecord; generation: number } | null> {
    const row = await db('users').where({ id }).first<(UserRow & { session_generation: number }) | undefined>();
    return row ? { user: toUser(row), generation: row.session_generation } : null;
  }

  /** Enabled administrators. */
  async countAdmins(db: Queryable): Promise<number> {
    const row = (await db('users').where({ is_admin: true }).whereNull('disabled_at').count({ n: '*' }).first()) as
      { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  private async patch(db: Queryable, id: number, patch: Record<string, unknown>): Promise<UserRecord | null> {
    const rows = (await db('users').where({ id }).update(patch).returning('*')) as UserRow[];
    const row = rows[0];
    return row ? toUser(row) : null;
  }
}
