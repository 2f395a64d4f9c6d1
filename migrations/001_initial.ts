/**
 * The initial schema. Times are integer milliseconds since the epoch (one representation
 * on both databases); secrets are AES-GCM ciphertexts; tokens and verifiers are SHA-256 hex.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.increments('id').primary();
    t.string('username', 150).notNullable().unique();
    t.string('email', 320).notNullable().unique();
    t.string('display_name', 200).notNullable();
    t.text('password_hash').nullable();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.bigInteger('disabled_at').nullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('consumers', (t) => {
    t.increments('id').primary();
    t.string('consumer_key', 255).notNullable().unique();
    t.string('name', 200).notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('callback_url').nullable();
    t.text('secret_enc').nullable();
    t.text('public_key').nullable();
    t.bigInteger('disabled_at').nullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('request_tokens', (t) => {
    t.increments('id').primary();
    t.string('token_hash', 64).notNullable().unique();
    t.integer('consumer_id').notNullable().references('consumers.id').onDelete('CASCADE');
    t.text('secret_enc').notNullable();
    t.text('callback').notNullable();
    t.integer('user_id').nullable().references('users.id').onDelete('CASCADE');
    t.string('verifier_hash', 64).nullable();
    t.integer('verifier_failures').notNullable().defaultTo(0);
    t.bigInteger('authorized_at').nullable();
    t.bigInteger('denied_at').nullable();
    t.bigInteger('used_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
  });

  await knex.schema.createTable('access_tokens', (t) => {
    t.increments('id').primary();
    t.string('token_hash', 64).notNullable().unique();
    t.integer('consumer_id').notNullable().references('consumers.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('secret_enc').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').nullable();
    t.bigInteger('revoked_at').nullable();
    t.bigInteger('last_used_at').nullable();
    t.string('last_used_ip', 64).nullable();
    t.index(['user_id']);
    t.index(['consumer_id']);
  });

  // A nonce is single-use per consumer, token and timestamp: the primary key is the claim.
  await knex.schema.createTable('nonces', (t) => {
    t.integer('consumer_id').notNullable();
    t.string('token_ref', 24).notNullable();
    t.bigInteger('timestamp').notNullable();
    t.string('nonce', 255).notNullable();
    t.primary(['consumer_id', 'token_ref', 'timestamp', 'nonce']);
    t.index(['timestamp']);
  });

  await knex.schema.createTable('audit_events', (t) => {
    t.increments('id').primary();
    t.bigInteger('at').notNullable().index();
    t.string('event', 64).notNullable().index();
    t.integer('actor_user_id').nullable();
    t.integer('consumer_id').nullable();
    t.integer('token_id').nullable();
    t.string('ip', 64).nullable();
    t.text('detail').nullable();
  });

  await knex.schema.createTable('sessions', (t) => {
    t.string('sid', 255).primary();
    t.text('sess').notNullable();
    t.bigInteger('expires_at').notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['sessions', 'audit_events', 'nonces', 'access_tokens', 'request_tokens', 'consumers', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
