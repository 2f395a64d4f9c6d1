/**
 * The migration list, imported statically so the same knex migrator runs from the
 * compiled build, the CLI and the TypeScript tests alike. Append, never edit.
 */
import type { Knex } from 'knex';
import * as m001 from './001_initial';
import * as m004 from './004_gateway_keys';
import * as m007 from './007_nonce_key_order';
import * as m010 from './010_oauth_session';
import * as m011 from './011_master_keys';
import * as m012 from './012_consumer_failures';
import * as m020 from './020_throttles';
import * as m021 from './021_setup_code';
import * as m022 from './022_session_generation';

const MIGRATIONS: ReadonlyArray<[string, Knex.Migration]> = [
  ['001_initial', m001],
  ['004_gateway_keys', m004],
  ['007_nonce_key_order', m007],
  ['010_oauth_session', m010],
  ['011_master_keys', m011],
  ['012_consumer_failures', m012],
  ['020_throttles', m020],
  ['021_setup_code', m021],
  ['022_session_generation', m022],
];

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve(MIGRATIONS.map(([name]) => name)),
  getMigrationName: (name) => name,
  getMigration: (name) => {
    const found = MIGRATIONS.find(([n]) => n === name);
    return found ? Promise.resolve(found[1]) : Promise.reject(new Error(`unknown migration ${name}`));
  },
};
