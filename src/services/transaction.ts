/**
 * One transaction per management action: the change and its audit entry commit together
 * or not at all. Metrics hear of an audit entry only once it has committed.
 */
import type { Knex } from 'knex';
import type { AuditEvent } from '../oauth1/ports';
import type { AuditRepository } from '../db/audit';
import type { Queryable } from '../db/queryable';
import { auditedBy, type Actor } from './actor';

export interface Tx {
  /** the open transaction: hand it to every repository call of the action */
  db: Knex.Transaction;
  /** writes the audit entry in this transaction, with who did it */
  audit(actor: Actor | null, e: AuditEvent): Promise<void>;
}

export class Transactor {
  constructor(
    /** reads outside a transaction go here */
    readonly db: Knex,
    private readonly audits: AuditRepository,
    private readonly onAudit: (e: AuditEvent) => void = () => undefined,
  ) {}

  /** Runs `fn` in one transaction; any throw rolls back the change and its audit entry. */
  async run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const written: AuditEvent[] = [];
    const result = await this.db.transaction(async (trx) =>
      fn({
        db: trx,
        audit: async (actor, e) => {
          const entry = actor ? withActor(actor, e) : e;
          await this.audits.insert(trx, entry);
          written.push(entry);
        },
      }),
    );
    for (const e of written) this.onAudit(e);
    return result;
  }

  /** An audit entry on its own (an event that changes nothing else, e.g. a refused attempt). */
  async audit(actor: Actor | null, e: AuditEvent, db: Queryable = this.db): Promise<void> {
    const entry = actor ? withActor(actor, e) : e;
    await this.audits.insert(db, entry);
    this.onAudit(entry);
  }
}

function withActor(actor: Actor, e: AuditEvent): AuditEvent {
  const who = auditedBy(actor);
  return {
    ...e,
    actorUserId: e.actorUserId !== undefined ? e.actorUserId : who.actorUserId,
    ip: e.ip !== undefined ? e.ip : who.ip,
    detail: { by: who.by, ...e.detail },
  };
}
