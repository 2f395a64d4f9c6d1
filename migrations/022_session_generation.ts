/**
 * Sessions end when a password changes: every user carries a session generation, a
 * counter a password change (by the user or by an administrator) moves on; a session
 * remembers the generation it was signed in under and is worthless once they differ
 * (src/http/web/session.ts). Existing users start at 0, as do the sessions made before
 * this migration, so nobody is signed out by the upgrade itself.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.integer('session_generation').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('session_generation');
  });
}
