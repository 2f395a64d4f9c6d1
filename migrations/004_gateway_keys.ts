/**
 * The gateway's signing keys (ES256). The private key is sealed with the master key
 * (SecretBox); the public JWK is published at /.well-known/jwks.json. A key signs from
 * `activates_at` until a newer key activates, and stays published for a while after.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('gateway_keys', (t) => {
    t.increments('id').primary();
    t.string('kid', 64).notNullable().unique();
    t.text('private_key_enc').notNullable();
    t.text('public_jwk').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('activates_at').notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('gateway_keys');
}
