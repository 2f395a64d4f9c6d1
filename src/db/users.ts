/** Users: local accounts (password) and, with single sign-on, accounts known by email. */
import type { Knex } from 'knex';
import { hashPassword, verifyPassword } from '../secrets';
import type { UserRecord } from '../oauth1/ports';
import { toUser, type UserRow } from './rows';

export interface NewUser {
  username: string;
  email: string;
  displayName?: string | undefined;
  password?: string | undefined;
  isAdmin?: boolean | undefined;
}

export class DuplicateError extends Error {
  constructor(what: string) {
    super(`${what} already exists`);
    this.name = 'DuplicateError';
  }
}

export const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string; message?: string };
  return err.code === '23505' || err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};

export class UserRepository {
  constructor(private readonly knex: Knex) {}

  async create(u: NewUser): Promise<UserRecord> {
    const row = {
      username: u.username,
      email: u.email.toLowerCase(),
      display_name: u.displayName ?? u.username,
      password_hash: u.password ? await hashPassword(u.password) : null,
      is_admin: !!u.isAdmin,
      created_at: Date.now(),
    };
    try {
      const [created] = await this.knex('users').insert(row).returning('*');
      return toUser(created as UserRow);
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateError('a user with this username or email');
      throw e;
    }
  }

  async findById(id: number): Promise<UserRecord | null> {
    const row = (await this.knex('users').where({ id }).first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    const row = (await this.knex('users').where({ username }).first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async findByEmail(email: string): Promise<UserRecord | null> {
    const row = (await this.knex('users').where({ email: email.toLowerCase() }).first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  /** The user if the password is right; the same work is done for unknown usernames. */
  async authenticate(username: string, password: string): Promise<UserRecord | null> {
    const row = (await this.knex('users').where({ username }).first()) as UserRow | undefined;
    const ok = await verifyPassword(password, row?.password_hash ?? null);
    return ok && row ? toUser(row) : null;
  }

  async list(): Promise<Array<UserRecord & { createdAt: number }>> {
    const rows = (await this.knex('users').orderBy('id')) as UserRow[];
    return rows.map((r) => ({ ...toUser(r), createdAt: r.created_at }));
  }

  /** Returns false when there is no such user. */
  async setDisabled(username: string, disabled: boolean): Promise<UserRecord | null> {
    const n = await this.knex('users')
      .where({ username })
      .update({ disabled_at: disabled ? Date.now() : null });
    return n === 1 ? this.findByUsername(username) : null;
  }

  async setAdmin(username: string, isAdmin: boolean): Promise<UserRecord | null> {
    const n = await this.knex('users').where({ username }).update({ is_admin: isAdmin });
    return n === 1 ? this.findByUsername(username) : null;
  }

  async updateDisplayName(id: number, displayName: string): Promise<UserRecord | null> {
    const [row] = (await this.knex('users')
      .where({ id })
      .update({ display_name: displayName })
      .returning('*')) as UserRow[];
    return row ? toUser(row) : null;
  }

  async countAdmins(): Promise<number> {
    const row = (await this.knex('users')
      .where({ is_admin: true })
      .whereNull('disabled_at')
      .count({ n: '*' })
      .first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }
}
