/**
 * Master-key rotation: every stored SecretBox ciphertext re-sealed under the current key.
 * Runs beside live servers: rows go in small transactions, and each row is replaced only
 * if it still holds the ciphertext that was read (a compare-and-swap), so a concurrent
 * write is never overwritten. Readers keep working throughout as long as every server
 * has both keys loaded (current + APPLINK_PREVIOUS_SECRET_KEYS).
 */
import type { Knex } from 'knex';
import type { SecretBox } from '../secrets';

/** Every column that holds a SecretBox ciphertext. A new sealed column must be added here. */
export const SEALED_COLUMNS: ReadonlyArray<{ table: string; column: string }> = Object.freeze([
  { table: 'consumers', column: 'secret_enc' },
  { table: 'request_tokens', column: 'secret_enc' },
  { table: 'access_tokens', column: 'secret_enc' },
  { table: 'gateway_keys', column: 'private_key_enc' },
]);

export interface ColumnKeys {
  table: string;
  column: string;
  /** number of values per key id */
  byKey: Record<string, number>;
}

export class UnknownKeyError extends Error {
  constructor(
    readonly table: string,
    readonly keyId: string,
  ) {
    super(
      `${table} holds secrets sealed under key ${keyId}, which is not loaded: ` +
        'set APPLINK_PREVIOUS_SECRET_KEYS to include it',
    );
    this.name = 'UnknownKeyError';
  }
}

// `v1.<8 hex key id>.<data>`: the key id is characters 4 to 11 (SQL substr is 1-based).
const KEY_ID_SQL = (column: string) => `substr(${column}, 4, 8)`;

/** How many stored secrets each key has sealed, per column. */
export async function sealedKeyUsage(knex: Knex): Promise<ColumnKeys[]> {
  const out: ColumnKeys[] = [];
  for (const { table, column } of SEALED_COLUMNS) {
    const rows = (await knex(table)
      .whereNotNull(column)
      .select(knex.raw(`${KEY_ID_SQL(column)} AS key_id`))
      .count({ n: '*' })
      .groupByRaw(KEY_ID_SQL(column))) as Array<{ key_id: string; n: number | string }>;
    out.push({ table, column, byKey: Object.fromEntries(rows.map((r) => [r.key_id, Number(r.n)])) });
  }
  return out;
}

export interface RotationResult {
  table: string;
  column: string;
  /** re-sealed under the current key */
  rotated: number;
  /** changed by someone else between read and write (already re-sealed by them) */
  skipped: number;
}

/**
 * Re-seals every value not sealed under the box's current key. Fails before writing
 * anything when a value's key is not loaded.
 */
export async function rotateSecrets(
  knex: Knex,
  box: SecretBox,
  opts: { batchSize?: number } = {},
): Promise<RotationResult[]> {
  const batchSize = opts.batchSize ?? 200;
  // Refuse up front if any stored value is under a key this process cannot open.
  for (const usage of await sealedKeyUsage(knex)) {
    for (const id of Object.keys(usage.byKey)) {
      if (!box.hasKey(id)) throw new UnknownKeyError(usage.table, id);
    }
  }
  const results: RotationResult[] = [];
  for (const { table, column } of SEALED_COLUMNS) {
    const result: RotationResult = { table, column, rotated: 0, skipped: 0 };
    let after = 0;
    for (;;) {
      const rows = (await knex(table)
        .select('id', column)
        .whereNotNull(column)
        .whereRaw(`${KEY_ID_SQL(column)} <> ?`, [box.currentKeyId])
        .where('id', '>', after)
        .orderBy('id')
        .limit(batchSize)) as Array<{ id: number } & Record<string, string>>;
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      const resealed = rows.map((r) => ({ id: r.id, old: r[column]!, next: box.seal(box.open(r[column]!)) }));
      await knex.transaction(async (trx) => {
        for (const r of resealed) {
          const n = await trx(table)
            .where({ id: r.id, [column]: r.old })
            .update({ [column]: r.next });
          if (n === 1) result.rotated++;
          else result.skipped++;
        }
      });
    }
    results.push(result);
  }
  return results;
}
