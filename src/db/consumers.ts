/** Consumers (the linked applications): keys, secrets sealed at rest, RSA public keys. */
import type { Knex } from 'knex';
import type { SecretBox } from '../secrets';
import { newSecretValue } from '../oauth1/tokens';
import { type ConsumerRow } from './rows';
import { z } from 'zod';
import {
  callbackUrlField,
  consumerKeyField,
  consumerNameField,
  descriptionField,
  parseInput,
  publicKeyPemField,
} from '../services/fields';
import { ServiceError } from '../services/errors';
import { DuplicateError, isUniqueViolation } from './users';
import { recordAudit } from './protocol-store';
import type { AuditEvent } from '../oauth1/ports';

export interface NewConsumer {
  key: string;
  name: string;
  description?: string | undefined;
  callbackUrl?: string | undefined;
  publicKeyPem?: string | undefined;
  /** generate a shared secret (default true) */
  withSecret?: boolean | undefined;
}

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

export class InvalidInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInputError';
  }
}

const consumerFieldsSchema = z.object({
  key: consumerKeyField.optional(),
  name: consumerNameField.optional(),
  description: descriptionField.optional(),
  callbackUrl: callbackUrlField.nullable().optional(),
  publicKeyPem: publicKeyPemField.optional(),
});

export function validateConsumerFields(c: {
  key?: string;
  name?: string;
  description?: string | undefined;
  callbackUrl?: string | null | undefined;
  publicKeyPem?: string | undefined;
}): void {
  try {
    parseInput(consumerFieldsSchema, c);
  } catch (e) {
    throw e instanceof ServiceError ? new InvalidInputError(e.message) : e;
  }
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
    private readonly knex: Knex,
    private readonly box: SecretBox,
  ) {}

  /** Creates the consumer; returns it with the generated secret (shown once) or null. */
  async create(c: NewConsumer): Promise<{ consumer: ConsumerSummary; secret: string | null }> {
    validateConsumerFields(c);
    const withSecret = c.withSecret ?? true;
    if (!withSecret && !c.publicKeyPem)
      throw new InvalidInputError('a consumer needs a shared secret, a public key, or both');
    const secret = withSecret ? newSecretValue() : null;
    try {
      const [row] = await this.knex('consumers')
        .insert({
          consumer_key: c.key,
          name: c.name.trim(),
          description: c.description ?? '',
          callback_url: c.callbackUrl || null,
          secret_enc: secret === null ? null : this.box.seal(secret),
          public_key: c.publicKeyPem?.trim() ?? null,
          created_at: Date.now(),
        })
        .returning('*');
      return { consumer: summary(row as ConsumerRow), secret };
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateError(`a consumer with key ${c.key}`);
      throw e;
    }
  }

  async list(): Promise<ConsumerSummary[]> {
    return ((await this.knex('consumers').orderBy('id')) as ConsumerRow[]).map(summary);
  }

  async findByKey(key: string): Promise<ConsumerSummary | null> {
    const row = (await this.knex('consumers').where({ consumer_key: key }).first()) as ConsumerRow | undefined;
    return row ? summary(row) : null;
  }

  async findById(id: number): Promise<ConsumerSummary | null> {
    const row = (await this.knex('consumers').where({ id }).first()) as ConsumerRow | undefined;
    return row ? summary(row) : null;
  }

  async update(id: number, f: { name?: string; description?: string; callbackUrl?: string | null }): Promise<boolean> {
    validateConsumerFields({
      ...(f.name !== undefined && { name: f.name }),
      description: f.description,
      callbackUrl: f.callbackUrl,
    });
    const patch: Record<string, unknown> = {};
    if (f.name !== undefined) patch.name = f.name.trim();
    if (f.description !== undefined) patch.description = f.description;
    if (f.callbackUrl !== undefined) patch.callback_url = f.callbackUrl || null;
    return (await this.knex('consumers').where({ id }).update(patch)) === 1;
  }

  /**
   * Gives the consumer a new shared secret, returned in the clear to be shown once and
   * stored sealed. The old secret is dead at once: nothing caches a consumer's secret, so
   * the very next request signed with it is refused (`signature_invalid`) on every node.
   * The audit entry (`detail.replaced`: whether there was a secret before) is written in
   * the same transaction. Null when there is no such consumer.
   */
  async regenerateSecret(
    id: number,
    audit: AuditEvent,
  ): Promise<{ consumer: ConsumerSummary; secret: string; replaced: boolean } | null> {
    const secret = newSecretValue();
    return this.knex.transaction(async (trx) => {
      const before = (await trx('consumers').where({ id }).first()) as ConsumerRow | undefined;
      if (!before) return null;
      const [row] = (await trx('consumers')
        .where({ id })
        .update({ secret_enc: this.box.seal(secret) })
        .returning('*')) as ConsumerRow[];
      if (!row) return null;
      const replaced = before.secret_enc !== null;
      await recordAudit(trx, { ...audit, consumerId: id, detail: { ...audit.detail, replaced } });
      return { consumer: summary(row), secret, replaced };
    });
  }

  async setDisabled(id: number, disabled: boolean): Promise<boolean> {
    return (
      (await this.knex('consumers')
        .where({ id })
        .update({ disabled_at: disabled ? Date.now() : null })) === 1
    );
  }

  /** Deletes the consumer; its request and access tokens go with it (ON DELETE CASCADE). */
  async deleteByKey(key: string): Promise<ConsumerSummary | null> {
    return this.knex.transaction(async (trx) => {
      const row = (await trx('consumers').where({ consumer_key: key }).first()) as ConsumerRow | undefined;
      if (!row) return null;
      await trx('access_tokens').where({ consumer_id: row.id }).delete();
      await trx('request_tokens').where({ consumer_id: row.id }).delete();
      await trx('nonces').where({ consumer_id: row.id }).delete();
      await trx('consumers').where({ id: row.id }).delete();
      return summary(row);
    });
  }
}
