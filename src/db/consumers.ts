/**
 * Consumers (the linked applications): rows in, summaries out. Secrets are sealed here,
 * at the edge of storage; the rules about what a consumer may be live in
 * src/services/consumers.ts.
 */
import type { SecretBox } from '../secret-box';
import type { Clock } from '../oauth1/ports';
import type { ConsumerRow } from './rows';
import type { Queryable } from './queryable';

export interface ConsumerSummary {
  id: number;
  key: string;
  name: string;
  description: string;
  callbackUrl: string | null;
  hasSecret: boolean;
  hasPublicKey: boolean;
  disabled: boolean;
  createdAt: number;
}

export interface ConsumerInsert {
  key: string;
  name: string;
  description: string;
  callbackUrl: string | null;
  publicKeyPem: string | null;
  /** the shared secret in the clear (sealed before it is stored), or null */
  secret: string | null;
}

export interface ConsumerPatch {
  name?: string | undefined;
  description?: string | undefined;
  callbackUrl?: string | null | undefined;
}

const summary = (r: ConsumerRow): ConsumerSummary => ({
  id: r.id,
  key: r.consumer_key,
  name: r.name,
  description: r.description,
  callbackUrl: r.callback_url,
  hasSecret: r.secret_enc !== null,
  hasPublicKey: r.public_key !== null,
  disabled: r.disabled_at !== null,
  createdAt: r.created_at,
});

export class ConsumerRepository {
  constructor(
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  /** Inserts the consumer; null when the key is taken. */
  async insert(db: Queryable, c: ConsumerInsert): Promise<ConsumerSummary | null> {
    const rows = (await db('consumers')
      .insert({
        consumer_key: c.key,
        name: c.name,
        description: c.description,
        callback_url: c.callbackUrl,
        secret_enc: c.secret === null ? null : this.box.seal(c.secret),
        public_key: c.publicKeyPem,
        created_at: this.clock.now(),
      })
      .onConflict()
      .ignore()
      .returning('*')) as ConsumerRow[];
    const row = rows[0];
    return row ? summary(row) : null;
  }

  async list(db: Queryable): Promise<ConsumerSummary[]> {
    return ((await db('consumers').orderBy('id')) as ConsumerRow[]).map(summary);
  }

  async findByKey(db: Queryable, key: string): Promise<ConsumerSummary | null> {
    const row = (await db('consumers').where({ consumer_key: key }).first()) as ConsumerRow | undefined;
    return row ? summary(row) : null;
  }

  async findById(db: Queryable, id: number): Promise<ConsumerSummary | null> {
    const row = (await db('consumers').where({ id }).first()) as ConsumerRow | undefined;
    return row ? summary(row) : null;
  }

  /** Applies the patch; the consumer as it is now, or null when there is none. */
  async update(db: Queryable, id: number, p: ConsumerPatch): Promise<ConsumerSummary | null> {
    const patch: Record<string, unknown> = {};
    if (p.name !== undefined) patch.name = p.name;
    if (p.description !== undefined) patch.description = p.description;
    if (p.callbackUrl !== undefined) patch.callback_url = p.callbackUrl;
    if (Object.keys(patch).length === 0) return this.findById(db, id);
    const rows = (await db('consumers').where({ id }).update(patch).returning('*')) as ConsumerRow[];
    const row = rows[0];
    return row ? summary(row) : null;
  }

  /**
   * Seals and stores a new shared secret in place of the old one (which is dead at once:
   * nothing caches a consumer's secret). The consumer, and whether it had a secret before;
   * null when there is no such consumer.
   */
  async replaceSecret(
    db: Queryable,
    id: number,
    secret: string,
  ): Promise<{ consumer: ConsumerSummary; replaced: boolean } | null> {
    const before = (await db('consumers').where({ id }).first()) as ConsumerRow | undefined;
    if (!before) return null;
    const rows = (await db('consumers')
      .where({ id })
      .update({ secret_enc: this.box.seal(secret) })
      .returning('*')) as ConsumerRow[];
    const row = rows[0];
    return row ? { consumer: summary(row), replaced: before.secret_enc !== null } : null;
  }

  /** Replaces the RSA public key (PEM); the consumer as it is now, or null when there is none. */
  async setPublicKey(db: Queryable, id: number, publicKeyPem: string): Promise<ConsumerSummary | null> {
    const rows = (await db('consumers')
      .where({ id })
      .update({ public_key: publicKeyPem })
      .returning('*')) as ConsumerRow[];
    const row = rows[0];
    return row ? summary(row) : null;
  }

  /** Disables (now) or enables; false when there is no such consumer or nothing changed. */
  async setDisabled(db: Queryable, id: number, disabled: boolean): Promise<boolean> {
    const q = db('consumers').where({ id });
    if (disabled) q.whereNull('disabled_at');
    else q.whereNotNull('disabled_at');
    return (await q.update({ disabled_at: disabled ? this.clock.now() : null })) === 1;
  }

  /** Deletes the consumer with its request and access tokens and nonces; false when there was none. */
  async delete(db: Queryable, id: number): Promise<boolean> {
    await db('access_tokens').where({ consumer_id: id }).delete();
    await db('request_tokens').where({ consumer_id: id }).delete();
    await db('nonces').where({ consumer_id: id }).delete();
    return (await db('consumers').where({ id }).delete()) === 1;
  }
}
