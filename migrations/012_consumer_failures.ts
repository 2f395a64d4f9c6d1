/**
 * Recent refused protocol and API requests, per consumer (consumer_id) and for unknown
 * consumer keys (consumer_id NULL, the key as sent, cleaned and cut): diagnostics for the
 * admin console. Bounded by the writer (src/db/failure-log.ts): a fixed number of rows per
 * consumer and for the unknown keys together; identical failures are one row with a count.
 * Nothing secret is stored: no signature, token, nonce, verifier or base string.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('consumer_failures', (t) => {
    t.increments('id').primary();
    t.integer('consumer_id').nullable().references('consumers.id').onDelete('CASCADE');
    t.string('consumer_key', 64).nullable();
    /** what makes two failures "the same" (they then share a row and a count) */
    t.string('merge_key', 64).notNullable();
    t.bigInteger('first_at').notNullable();
    t.bigInteger('last_at').notNullable();
    t.integer('count').notNullable();
    t.string('problem', 32).notNullable();
    t.string('ip', 64).nullable();
    t.string('method', 16).notNullable();
    t.string('path', 256).notNullable();
    /** timestamp_refused: the consumer's timestamp minus the server's clock, seconds */
    t.bigInteger('clock_skew').nullable();
    /** signature_invalid: scheme://host:port (and base path) the server verified against */
    t.string('server_url', 300).nullable();
    /** signature_invalid: what the request reached: the connection's scheme and Host header */
    t.string('reached_url', 300).nullable();
    /** signature_invalid: X-Forwarded-Proto/Host as sent (first entries), when present */
    t.string('forwarded', 300).nullable();
    t.text('hint').notNullable();
    t.index(['consumer_id', 'last_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('consumer_failures');
}
