/**
 * Master-key rotation: every stored SecretBox ciphertext re-sealed under the current key.
 * Runs beside live servers: rows go in small transactions, and each row is replaced only
 * if it still holds the ciphertext that was read (a compare-and-swap), so a concurrent
 * write is never overwritten. Readers keep working throughout as long as every server
 * has both keys loaded (current + APPLINK_PREVIOUS_SECRET_KEYS).
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { SecretBox } from '../secret-box';
import { refused } from '../errors';

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

/** A stored secret sealed under a key this process does not hold: refused, nothing written. */
const unknownKey = (table: string, keyId: string) =>
  refused(
    `${table} holds secrets sealed under key ${keyId}, which is not loaded: ` +
      'set APPLINK_PREVIOUS_SECRET_KEYS to include it',
  );

// `v1.<8 hex key id>.<data>`: the key id is characters 4 to 11 (SQL substr is 1-based).
const KEY_ID_SQL = (column: string) => `substr(${column}, 4, 8)`;

/** How many stored secrets each key has sealed, per column. */
export async function sealedKeyUsage(knex: Knex): Promise<ColumnKeys[]> {
  const out: ColumnKeys[] = [];
  for (const { table, column } of SEALED_COLUMNS) {
    const rows: Array<{ key_id: string; n: number | string }> = await knex(table)
      .whereNotNull(column)
      .select(knex.raw(`${KEY_ID_SQL(column)} AS key_id`))
      .count({ n: '*' })
      .groupByRaw(KEY_ID_SQL(column));
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
      if (!box.hasKey(id)) throw unknownKey(usage.table, id);
    }
  }
  const results: RotationResult[] = [];
  for (const { table, column } of SEALED_COLUMNS) {
    const result: RotationResult = { table, column, rotated: 0, skipped: 0 };
    let after = 0;
    for (;;) {
      const rows = await knex(table)
        .select<Array<Record<string, unknown>>>('id', column)
        .whereNotNull(column)
        .whereRaw(`${KEY_ID_SQL(column)} <> ?`, [box.currentKeyId])
        .where('id', '>', after)
        .orderBy('id')
        .limit(batchSize);
      const resealed = rows.map((r) => {
        const id = r.id;
        const old = r[column];
        if (typeof id !== 'number' || typeof old !== 'string') throw new Error(`${table}: unexpected row shape`);
        return { id, old, next: box.seal(box.open(old)) };
      });
      const last = resealed.at(-1);
      if (!last) break;
      after = last.id;
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
  await dropUnusedKeys(knex, box);
  return results;
}

/** Forgets recorded master keys (other than the current one) that no stored secret uses any more. */
async function dropUnusedKeys(knex: Knex, box: SecretBox): Promise<void> {
  const used = new Set((await sealedKeyUsage(knex)).flatMap((c) => Object.keys(c.byKey)));
  await knex('master_keys')
    .whereNot('key_id', box.currentKeyId)
    .whereNotIn('key_id', [...used])
    .delete();
}

export interface ForgetResult {
  keyId: string;
  /** consumers whose shared secret was sealed under the key: each got a new secret (shown once) */
  consumers: Array<{ key: string; secret: string }>;
  /** access tokens revoked (their secrets could not be read) */
  accessTokensRevoked: number;
  /** pending request tokens deleted */
  requestTokensDeleted: number;
  /** gateway signing keys deleted (a new one is made when next needed) */
  gatewayKeysDeleted: number;
}

/**
 * `applink keys repair --forget-key ID`: the way out when secrets were sealed under a key
 * that is lost (the state an earlier CLI could leave behind with a wrong key). Everything
 * sealed under ID is made harmless, in one transaction: consumers get a new shared secret,
 * access tokens are revoked (their holders authorize again), request tokens and gateway
 * keys are deleted; then ID is no longer recorded. Refused for a loaded key (rotate it
 * instead) and unless the current key is already this installation's, so a wrong key cannot
 * be used to forget the right one.
 */
export async function forgetKey(knex: Knex, box: SecretBox, id: string): Promise<ForgetResult> {
  if (!/^[0-9a-f]{8}$/.test(id))
    throw refused('--forget-key must be a key id (8 hex digits) from `applink keys status`');
  if (box.hasKey(id))
    throw refused(`key ${id} is loaded: nothing is lost; run \`applink keys rotate\` to re-seal under the current key`);
  const usage = await sealedKeyUsage(knex);
  const recorded = await knex('master_keys').pluck<string[]>('key_id');
  const inData = usage.some((c) => (c.byKey[id] ?? 0) > 0);
  if (!inData && !recorded.includes(id)) throw refused(`no stored secret is sealed under key ${id}`);
  const current = box.currentKeyId;
  if (!recorded.includes(current) && !usage.some((c) => (c.byKey[current] ?? 0) > 0))
    throw refused(
      `the current key ${current} has sealed nothing in this database: repair with this installation's key`,
    );
  const sealedUnder = (q: Knex.QueryBuilder, column: string) => q.whereRaw(`${KEY_ID_SQL(column)} = ?`, [id]);
  return knex.transaction(async (trx) => {
    const result: ForgetResult = {
      keyId: id,
      consumers: [],
      accessTokensRevoked: 0,
      requestTokensDeleted: 0,
      gatewayKeysDeleted: 0,
    };
    const consumers = (await sealedUnder(trx('consumers').select('id', 'consumer_key'), 'secret_enc')) as Array<{
      id: number;
      consumer_key: string;
    }>;
    for (const c of consumers) {
      const secret = randomBytes(32).toString('base64url');
      await trx('consumers')
        .where({ id: c.id })
        .update({ secret_enc: box.seal(secret) });
      result.consumers.push({ key: c.consumer_key, secret });
    }
    const now = Date.now();
    // The row stays (history, audit references); its unreadable secret becomes an unknown one.
    const tokens = (await sealedUnder(trx('access_tokens').select('id', 'revoked_at'), 'secret_enc')) as Array<{
      id: number;
      revoked_at: number | null;
    }>;
    for (const t of tokens) {
      await trx('access_tokens')
        .where({ id: t.id })
        .update({ secret_enc: box.seal(randomBytes(32).toString('base64url')), revoked_at: t.revoked_at ?? now });
      if (t.revoked_at === null) result.accessTokensRevoked++;
    }
    result.requestTokensDeleted = await sealedUnder(trx('request_tokens'), 'secret_enc').delete();
    result.gatewayKeysDeleted = await sealedUnder(trx('gateway_keys'), 'private_key_enc').delete();
    await trx('master_keys').where({ key_id: id }).delete();
    return result;
  });
}
