/**
 * Counters of the brute-force brakes and of sampled refusals (src/db/throttles.ts), in the
 * shared database so every node on one PostgreSQL counts against one budget. One row per
 * key (an address, an account-and-address pair, a kind of refusal); a row past its
 * `expires_at` counts as empty and is deleted by the sweep.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('throttles', (t) => {
    t.string('bucket', 512).primary();
    t.integer('hits').notNullable();
    /** ms time of the hit before the last one in this window (0 = none) */
    t.bigInteger('prev_at').notNullable();
    t.bigInteger('last_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('throttles');
}
