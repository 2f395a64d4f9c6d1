/**
 * What every repository method takes first: the database handle or an open transaction.
 * A service opens one transaction and hands it to several repositories, so a change and
 * its audit entry commit together or not at all.
 */
import type { Knex } from 'knex';

export type Queryable = Knex | Knex.Transaction;

/** A unique-key violation on either database (a duplicate username, email or consumer key). */
export const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string };
  return err.code === '23505' || err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};
