/**
 * Grants (access tokens as people see them): listing, and revoking one or all. A user
 * revokes their own; administrators and the operator revoke any. Each revocation and its
 * audit entry commit in one transaction, and only a revocation that happened is audited
 * (two tabs revoking the same grant write one entry).
 */
import { z } from 'zod';
import type { Grant, GrantFilter, GrantRepository } from '../db/grants';
import { mayAdminister, requireAdministrator, type Actor } from './actor';
import { forbidden } from '../errors';
import { consumerKeyField, idField, parseInput, usernameField } from '../fields';
import type { Transactor } from './transaction';

export type { Grant } from '../db/grants';

/** The filters of `applink token list` (and the console's lists). */
export const grantFilterInput = z.object({
  username: usernameField.optional(),
  consumerKey: consumerKeyField.optional(),
});

export const grantRefInput = z.object({
  id: idField,
  /** only if it belongs to this consumer (the console's consumer page) */
  consumerId: idField.optional(),
});
export type GrantRef = z.input<typeof grantRefInput>;

/**
 * One user's grants of one application, as the authorized-apps page shows them: one row
 * per application, however many tokens it holds (since a new approval replaces the old
 * token that is one, except for grants made before that rule).
 */
export interface ApplicationGrant {
  consumerId: number;
  consumerKey: string;
  consumerName: string;
  /** live tokens of this application for the user */
  tokens: number;
  /** the newest token (the row's handle for revoking the application) */
  newestId: number;
  firstAuthorizedAt: number;
  lastAuthorizedAt: number;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
}

/** Groups grants by application, the most recently authorized application first. */
export function byApplication(grants: readonly Grant[]): ApplicationGrant[] {
  const apps = new Map<number, ApplicationGrant>();
  for (const g of grants) {
    const a = apps.get(g.consumerId);
    if (!a) {
      apps.set(g.consumerId, {
        consumerId: g.consumerId,
        consumerKey: g.consumerKey,
        consumerName: g.consumerName,
        tokens: 1,
        newestId: g.id,
        firstAuthorizedAt: g.createdAt,
        lastAuthorizedAt: g.createdAt,
        lastUsedAt: g.lastUsedAt,
        lastUsedIp: g.lastUsedIp,
      });
      continue;
    }
    a.tokens++;
    if (g.createdAt < a.firstAuthorizedAt) a.firstAuthorizedAt = g.createdAt;
    if (g.createdAt >= a.lastAuthorizedAt) {
      a.lastAuthorizedAt = g.createdAt;
      a.newestId = g.id;
    }
    if (g.lastUsedAt !== null && (a.lastUsedAt === null || g.lastUsedAt > a.lastUsedAt)) {
      a.lastUsedAt = g.lastUsedAt;
      a.lastUsedIp = g.lastUsedIp;
    }
  }
  return [...apps.values()].sort((x, y) => y.lastAuthorizedAt - x.lastAuthorizedAt || x.consumerId - y.consumerId);
}

export class GrantService {
  constructor(
    private readonly tx: Transactor,
    private readonly grants: GrantRepository,
  ) {}

  // ---- reads ----------------------------------------------------------------------------

  /** Live grants (or all, with includeRevoked) matching the filter. */
  list(filter: GrantFilter = {}): Promise<Grant[]> {
    return this.grants.list(this.tx.db, filter);
  }

  /** Live grants per consumer id. */
  countLiveByConsumer(): Promise<Map<number, number>> {
    return this.grants.countLiveByConsumer(this.tx.db);
  }

  // ---- actions --------------------------------------------------------------------------

  /**
   * Revokes one live grant: a user only their own, an administrator or the operator any.
   * The grant as it was, or null when there was no such live grant for this actor (already
   * revoked, someone else's, or never there). Audit: `access_token.revoked`.
   */
  async revoke(actor: Actor, ref: GrantRef): Promise<Grant | null> {
    const r = parseInput(grantRefInput, ref);
    const owner = ownerOnly(actor);
    return this.tx.run(async (t) => {
      const [grant] = await this.grants.list(t.db, { id: r.id, userId: owner, consumerId: r.consumerId });
      if (!grant) return null;
      const only = {
        ...(owner !== undefined && { userId: owner }),
        ...(r.consumerId !== undefined && { consumerId: r.consumerId }),
      };
      if (!(await this.grants.revoke(t.db, grant.id, only))) return null;
      await t.audit(actor, { event: 'access_token.revoked', consumerId: grant.consumerId, tokenId: grant.id });
      return grant;
    });
  }

  /**
   * Revokes an application for its user: every live token of the grant's consumer for the
   * grant's user (a user: only their own), in one transaction. The application as it was,
   * or null when there was no such live grant for this actor. Audit: `access_token.revoked`
   * with the grant given and how many tokens went.
   */
  async revokeApplication(actor: Actor, ref: GrantRef): Promise<ApplicationGrant | null> {
    const r = parseInput(grantRefInput, ref);
    const owner = ownerOnly(actor);
    return this.tx.run(async (t) => {
      const [grant] = await this.grants.list(t.db, { id: r.id, userId: owner, consumerId: r.consumerId });
      if (!grant) return null;
      const [app] = byApplication(await this.grants.list(t.db, { userId: grant.userId, consumerId: grant.consumerId }));
      const count = await this.grants.revokeAll(t.db, { userId: grant.userId, consumerId: grant.consumerId });
      if (count === 0 || !app) return null;
      await t.audit(actor, {
        event: 'access_token.revoked',
        consumerId: grant.consumerId,
        tokenId: grant.id,
        detail: { count, username: grant.username },
      });
      return app;
    });
  }

  /**
   * Revokes every live grant of the user (a user: their own) and/or of the consumer
   * (administrators); how many. Audit `access_token.revoked_all` with the count, when any.
   */
  async revokeAll(actor: Actor, filter: { userId?: number; consumerId?: number }): Promise<number> {
    const owner = ownerOnly(actor);
    if (owner !== undefined && filter.userId !== owner) throw forbidden('you may revoke only your own grants');
    if (filter.userId === undefined && filter.consumerId === undefined) requireAdministrator(actor);
    return this.tx.run(async (t) => {
      const count = await this.grants.revokeAll(t.db, filter);
      if (count > 0)
        await t.audit(actor, {
          event: 'access_token.revoked_all',
          ...(filter.consumerId !== undefined && { consumerId: filter.consumerId }),
          detail: { count },
        });
      return count;
    });
  }
}

/** A user acts on their own grants only; administrators and the operator on any (undefined). */
function ownerOnly(actor: Actor): number | undefined {
  if (mayAdminister(actor)) return undefined;
  if (actor.kind === 'user' || actor.kind === 'admin') return actor.user.id;
  throw forbidden('only the user or an administrator may revoke grants');
}
