/**
 * Consumers (linked applications): the management actions of the admin console and the
 * CLI. Each takes the actor and an input already parsed by the schemas below, checks the
 * actor may, and writes the change with its audit entry in one transaction.
 */
import { z } from 'zod';
import type { ConsumerRepository, ConsumerSummary } from '../db/consumers';
import type { GrantRepository } from '../db/grants';
import { newSecretValue } from '../oauth1/tokens';
import { requireAdministrator, type Actor } from './actor';
import { conflict, invalidInput, notFound } from '../errors';
import {
  callbackUrlField,
  consumerKeyField,
  consumerNameField,
  descriptionField,
  idField,
  parseInput,
  publicKeyPemField,
} from '../fields';
import type { Transactor } from './transaction';

export type { ConsumerSummary } from '../db/consumers';

/** A new consumer, as the console form and `applink consumer create` give it. */
export const newConsumerInput = z.object({
  key: consumerKeyField,
  name: consumerNameField,
  description: descriptionField.default(''),
  callbackUrl: callbackUrlField.nullable().default(null),
  publicKeyPem: publicKeyPemField.nullable().default(null),
  /** generate a shared secret (shown once) */
  withSecret: z.boolean().default(true),
});
export type NewConsumerInput = z.input<typeof newConsumerInput>;
export type NewConsumer = z.output<typeof newConsumerInput>;

/** The editable fields of a consumer (each optional: only what is given changes). */
export const consumerChangesInput = z.object({
  name: consumerNameField.optional(),
  description: descriptionField.optional(),
  callbackUrl: callbackUrlField.nullable().optional(),
});
export type ConsumerChanges = z.input<typeof consumerChangesInput>;

/** Which consumer: by id (console) or by key (CLI). */
export const consumerRefInput = z.union([z.object({ id: idField }), z.object({ key: consumerKeyField })]);
export type ConsumerRef = { id: number } | { key: string };

export class ConsumerService {
  constructor(
    private readonly tx: Transactor,
    private readonly consumers: ConsumerRepository,
    private readonly grants: GrantRepository,
  ) {}

  // ---- reads ----------------------------------------------------------------------------

  list(): Promise<ConsumerSummary[]> {
    return this.consumers.list(this.tx.db);
  }

  findById(id: number): Promise<ConsumerSummary | null> {
    return this.consumers.findById(this.tx.db, id);
  }

  findByKey(key: string): Promise<ConsumerSummary | null> {
    return this.consumers.findByKey(this.tx.db, key);
  }

  /** The consumer, or ServiceError('not_found'). */
  async get(ref: ConsumerRef): Promise<ConsumerSummary> {
    const c = 'id' in ref ? await this.findById(ref.id) : await this.findByKey(ref.key);
    if (!c) throw notFound('id' in ref ? `no consumer with id ${ref.id}` : `no consumer ${ref.key}`);
    return c;
  }

  // ---- actions --------------------------------------------------------------------------

  /**
   * Creates the consumer; returns it with its shared secret in the clear (shown once,
   * stored sealed) or null for an RSA-only consumer. Audit: `consumer.created`.
   */
  async create(actor: Actor, input: NewConsumerInput): Promise<{ consumer: ConsumerSummary; secret: string | null }> {
    requireAdministrator(actor);
    const c = parseInput(newConsumerInput, input);
    if (!c.withSecret && !c.publicKeyPem)
      throw invalidInput('a consumer needs a shared secret, a public key, or both', 'publicKeyPem');
    const secret = c.withSecret ? newSecretValue() : null;
    return this.tx.run(async (t) => {
      const consumer = await this.consumers.insert(t.db, {
        key: c.key,
        name: c.name,
        description: c.description,
        callbackUrl: c.callbackUrl,
        publicKeyPem: c.publicKeyPem,
        secret,
      });
      if (!consumer) throw conflict(`a consumer with key ${c.key} already exists`);
      await t.audit(actor, { event: 'consumer.created', consumerId: consumer.id });
      return { consumer, secret };
    });
  }

  /** Changes name, description and/or registered callback. Audit: `consumer.updated`. */
  async update(actor: Actor, ref: ConsumerRef, changes: ConsumerChanges): Promise<ConsumerSummary> {
    requireAdministrator(actor);
    const patch = parseInput(consumerChangesInput, changes);
    return this.tx.run(async (t) => {
      const current = await this.inTx(t.db, ref);
      const updated = await this.consumers.update(t.db, current.id, patch);
      if (!updated) throw notFound(`no consumer ${current.key}`);
      await t.audit(actor, { event: 'consumer.updated', consumerId: current.id });
      return updated;
    });
  }

  /**
   * Disables (its tokens stop working at once) or enables the consumer. Audit
   * `consumer.disabled` / `consumer.enabled`, only when it changed.
   */
  async setDisabled(
    actor: Actor,
    ref: ConsumerRef,
    disabled: boolean,
  ): Promise<{ consumer: ConsumerSummary; changed: boolean }> {
    requireAdministrator(actor);
    return this.tx.run(async (t) => {
      const current = await this.inTx(t.db, ref);
      const changed = await this.consumers.setDisabled(t.db, current.id, disabled);
      if (changed)
        await t.audit(actor, { event: disabled ? 'consumer.disabled' : 'consumer.enabled', consumerId: current.id });
      return { consumer: { ...current, disabled }, changed };
    });
  }

  /**
   * Gives the consumer a new shared secret, returned in the clear to be shown once; the old
   * one stops working at once (the next request signed with it is `signature_invalid` on
   * every node). Audit: `consumer.secret_regenerated` with `replaced` (had it one before).
   */
  async regenerateSecret(
    actor: Actor,
    ref: ConsumerRef,
  ): Promise<{ consumer: ConsumerSummary; secret: string; replaced: boolean }> {
    requireAdministrator(actor);
    const secret = newSecretValue();
    return this.tx.run(async (t) => {
      const current = await this.inTx(t.db, ref);
      const done = await this.consumers.replaceSecret(t.db, current.id, secret);
      if (!done) throw notFound(`no consumer ${current.key}`);
      await t.audit(actor, {
        event: 'consumer.secret_regenerated',
        consumerId: current.id,
        detail: { replaced: done.replaced },
      });
      return { ...done, secret };
    });
  }

  /**
   * Replaces the consumer's RSA public key (the application rotated its key pair): RSA,
   * 2048 bits or more (publicKeyPemField). Signatures with the old key fail from the next
   * request on. Audit: `consumer.public_key_replaced`.
   */
  async replacePublicKey(actor: Actor, ref: ConsumerRef, publicKeyPem: string): Promise<ConsumerSummary> {
    requireAdministrator(actor);
    const pem = parseInput(publicKeyPemField, publicKeyPem);
    if (pem === null) throw invalidInput('paste the new public key', 'publicKeyPem');
    return this.tx.run(async (t) => {
      const current = await this.inTx(t.db, ref);
      const updated = await this.consumers.setPublicKey(t.db, current.id, pem);
      if (!updated) throw notFound(`no consumer ${current.key}`);
      await t.audit(actor, { event: 'consumer.public_key_replaced', consumerId: current.id });
      return updated;
    });
  }

  /** Deletes the consumer and every token it holds. Audit: `consumer.deleted` (with its key). */
  async delete(actor: Actor, ref: ConsumerRef): Promise<ConsumerSummary> {
    requireAdministrator(actor);
    return this.tx.run(async (t) => {
      const current = await this.inTx(t.db, ref);
      if (!(await this.consumers.delete(t.db, current.id))) throw notFound(`no consumer ${current.key}`);
      await t.audit(actor, { event: 'consumer.deleted', detail: { consumerKey: current.key } });
      return current;
    });
  }

  /** Revokes every live grant of the consumer; how many. Audit `access_token.revoked_all` when any. */
  async revokeAllGrants(actor: Actor, ref: ConsumerRef): Promise<{ consumer: ConsumerSummary; count: number }> {
    requireAdministrator(actor);
    return this.tx.run(async (t) => {
      const consumer = await this.inTx(t.db, ref);
      const count = await this.grants.revokeAll(t.db, { consumerId: consumer.id });
      if (count > 0)
        await t.audit(actor, { event: 'access_token.revoked_all', consumerId: consumer.id, detail: { count } });
      return { consumer, count };
    });
  }

  private async inTx(db: Parameters<ConsumerRepository['findById']>[0], ref: ConsumerRef): Promise<ConsumerSummary> {
    const c = 'id' in ref ? await this.consumers.findById(db, ref.id) : await this.consumers.findByKey(db, ref.key);
    if (!c) throw notFound('id' in ref ? `no consumer with id ${ref.id}` : `no consumer ${ref.key}`);
    return c;
  }
}
