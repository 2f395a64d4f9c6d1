/**
 * The nonce table keyed by timestamp first. The claim (an insert against the unique key)
 * is the one write of every signed call: with the timestamp leading, each insert lands at
 * the right edge of one B-tree (SQLite: WITHOUT ROWID, so the key is the table), and the
 * sweep's `timestamp < cutoff` is a range of that same key, so the separate timestamp
 * index (a second and third B-tree to update on every call) goes. Uniqueness is the same
 * set of columns. Live nonces are copied, so none can be replayed across the migration.
 */
import type { Knex } from 'knex';

const COLUMNS = 'consumer_id, token_ref, timestamp, nonce';

async function rebuild(knex: Knex, pkey: string, key: string, tail: string, timestampIndex: boolean): Promise<void> {
  await knex.raw(
    `CREATE TABLE nonces_new (
      consumer_id integer NOT NULL,
      token_ref varchar(24) NOT NULL,
      timestamp bigint NOT NULL,
      nonce varchar(255) NOT NULL,
      CONSTRAINT ${pkey} PRIMARY KEY (${key})
    )${tail}`,
  );
  await knex.raw(`INSERT INTO nonces_new (${COLUMNS}) SELECT ${COLUMNS} FROM nonces`);
  await knex.schema.dropTable('nonces');
  await knex.schema.renameTable('nonces_new', 'nonces');
  if (timestampIndex) await knex.schema.alterTable('nonces', (t) => t.index(['timestamp']));
}

// knex types its client as `any`; its config is the Knex.Config the connection was opened with
const sqlite = (knex: Knex) => (knex.client as { config: Knex.Config }).config.client === 'better-sqlite3';

export async function up(knex: Knex): Promise<void> {
  await rebuild(
    knex,
    'nonces_claim_pkey',
    'timestamp, consumer_id, token_ref, nonce',
    sqlite(knex) ? ' WITHOUT ROWID' : '',
    false,
  );
  if (!sqlite(knex)) {
    // Every signed call inserts a row and the sweep deletes as many: vacuum this table on
    // every autovacuum round, unthrottled, rather than once a fifth of it is dead, so its
    // space is reused and it stays near its live size instead of bloating.
    await knex.raw(
      'ALTER TABLE nonces SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)',
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  await rebuild(knex, 'nonces_pkey', COLUMNS, '', true);
}
