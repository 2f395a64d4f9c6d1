/**
 * Who does a management action. Every service action takes one, checks it may, and
 * records it in the audit entry (`actorUserId`, `ip`, and `detail.by`).
 */
import type { UserRecord } from '../oauth1/ports';
import { forbidden } from '../errors';

export type Actor =
  /** an administrator in the console (their user record as read for this request) */
  | { kind: 'admin'; user: UserRecord; ip: string | null }
  /** a signed-in user acting on their own things (their grants) */
  | { kind: 'user'; user: UserRecord; ip: string | null }
  /**
   * the operator at the command line: whoever can run `applink` with the server's
   * configuration holds the database and the master key already, so may do anything
   */
  | { kind: 'operator' }
  /** the person at /setup holding the one-time setup code (first administrator only) */
  | { kind: 'setup'; ip: string | null }
  /** single sign-on creating the account of a person the identity proxy vouched for */
  | { kind: 'sso'; ip: string | null };

export const OPERATOR: Actor = Object.freeze({ kind: 'operator' });

export const adminActor = (user: UserRecord, ip: string | null): Actor => ({ kind: 'admin', user, ip });
export const userActor = (user: UserRecord, ip: string | null): Actor => ({ kind: 'user', user, ip });

/** `detail.by` of the audit entry: who did it, in the words the log has always used. */
const BY: Record<Actor['kind'], string> = { admin: 'admin', user: 'user', operator: 'cli', setup: 'setup', sso: 'sso' };

/** The audit fields that say who did it. */
export function auditedBy(actor: Actor): { actorUserId: number | null; ip: string | null; by: string } {
  const user = actor.kind === 'admin' || actor.kind === 'user' ? actor.user : null;
  return { actorUserId: user?.id ?? null, ip: 'ip' in actor ? actor.ip : null, by: BY[actor.kind] };
}

/** Administrators (enabled) and the operator manage everything. */
export function mayAdminister(actor: Actor): boolean {
  if (actor.kind === 'operator') return true;
  return actor.kind === 'admin' && actor.user.isAdmin && !actor.user.disabled;
}

export function requireAdministrator(actor: Actor): void {
  if (!mayAdminister(actor)) throw forbidden('only an administrator may do this');
}
