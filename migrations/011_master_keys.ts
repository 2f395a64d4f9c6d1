/**
 * The master keys this installation has accepted, each with a value sealed under it: a
 * process proves it holds them (opens every check value) before it may write, even while
 * no secret is stored yet. `applink keys rotate` drops a key once nothing is sealed under it.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('master_keys', (t) => {
    t.string('key_id', 8).primary();
    t.text('check_enc').notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('master_keys');
}
