/**
 * OAuth Session extension: a grant keeps its id across renewals and carries the hash of
 * its session handle (SHA-256 hex, like tokens) and the end of the user's authorization,
 * after which it can no longer be renewed. Grants made before this migration have neither:
 * they work until their token expires and cannot be renewed.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('access_tokens', (t) => {
    t.string('session_handle_hash', 64).nullable();
    t.bigInteger('authorization_expires_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  // Plain ALTER TABLE … DROP COLUMN on both databases (SQLite >= 3.35): no table rebuild.
  await knex.raw('ALTER TABLE access_tokens DROP COLUMN authorization_expires_at');
  await knex.raw('ALTER TABLE access_tokens DROP COLUMN session_handle_hash');
}
