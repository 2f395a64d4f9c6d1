/** Users: local accounts (password) and, with single sign-on, accounts known by email. */
import type { Knex } from 'knex';
import { hashPassword, verifyPassword } from '../secrets';
import type { AuditEvent, UserRecord } from '../oauth1/ports';
import { recordAudit } from './protocol-store';
import { toUser, type UserRow } from './rows';
import { hasControlCharacter } from '../oauth1/encoding';
import { z } from 'zod';
import {
  displayNameField,
  emailField,
  FIELD_LIMITS,
  parseInput,
  passwordField,
  usernameField,
} from '../services/fields';
import { ServiceError } from '../services/errors';

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

export { USERNAME_SHAPE } from '../services/fields';
export const MIN_PASSWORD_LENGTH = FIELD_LIMITS.passwordMin;

const newUserSchema = z.object({
  username: usernameField,
  email: emailField,
  displayName: displayNameField.optional(),
  password: passwordField.optional(),
});

/** The rules every way of creating a user shares (CLI, admin console, first-run setup). */
export function validateNewUser(u: {
  username: string;
  email: string;
  displayName?: string | undefined;
  password?: string | undefined;
}): void {
  try {
    parseInput(newUserSchema, u);
  } catch (e) {
    throw e instanceof ServiceError ? new InvalidUserError(e.message) : e;
  }
}

/** Only ASCII letters are folded (see normaliseEmail): U+212A KELVIN SIGN never becomes "k". */
const asciiLower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

export class InvalidUserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidUserError';
  }
}

export const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string; message?: string };
  return err.code === '23505' || err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};

export class UserRepository {
  constructor(
    private readonly knex: Knex,
    /** told of every audit event this repository writes (metrics) */
    private readonly onAudit: (e: AuditEvent) => void = () => undefined,
  ) {}

  async create(u: NewUser): Promise<UserRecord> {
    const row = {
      username: u.username,
      email: asciiLower(u.email.trim()),
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
    const row = (await this.knex('users')
      .where({ email: asciiLower(email.trim()) })
      .first()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  /** The user if the password is right; the same work is done for unknown usernames. */
  async authenticate(username: string, password: string): Promise<UserRecord | null> {
    // A name no account can have (controls, NUL, absurd length) is not sent to the database.
    if (username.length > 320 || hasControlCharacter(username)) {
      await verifyPassword(password, null);
      return null;
    }
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

  /** Updates the display name; the audit event, when given, is written in the same transaction. */
  async updateDisplayName(id: number, displayName: string, audit?: AuditEvent): Promise<UserRecord | null> {
    const row = await this.knex.transaction(async (trx) => {
      const [updated] = (await trx('users')
        .where({ id })
        .update({ display_name: displayName })
        .returning('*')) as UserRow[];
      if (updated && audit) await recordAudit(trx, audit);
      return updated;
    });
    if (row && audit) this.onAudit(audit);
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
