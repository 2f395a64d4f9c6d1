/**
 * The first-run setup code (src/first-run.ts), in the shared database: every node checks
 * a typed code against the same one, and a code is taken once across all of them. At
 * most one row (id 1); it holds a SHA-256 of the code, never the code.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('setup_code', (t) => {
    t.integer('id').primary();
    t.string('code_hash', 64).notNullable();
    t.bigInteger('issued_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('setup_code');
}
