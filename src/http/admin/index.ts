/**
 * The admin console under /admin: the overview, consumers (create, edit, disable, delete,
 * their tokens), users (create, disable, make admin, set a password), the unknown consumer
 * keys and the audit log. Administrators only; everyone else signed in gets 403. Each
 * route converts the form, calls one service action (which checks the actor, and writes
 * the change with its audit entry) and answers; a ServiceError is answered by the error
 * handler, or by the route's onServiceError.
 *
 *   index.ts       this router: the guard, the overview (/), then the parts below
 *   context.ts     the deps, the console's URL, the POST guards, the actor (shared by the parts)
 *   consumers.ts   /consumers…: list, create, edit, disable, tokens, secret, public key, delete
 *   users.ts       /users…: list, create, disable, administrator rights, password
 *   audit.ts       /audit (the audit log) and /unknown-keys (requests with an unknown key)
 *   confirm.ts     the confirm page in front of a destructive action
 *   presenters.ts  records shown on several pages (audit entries)
 */
import { Router } from 'express';
import type { WebKit } from '../web';
import { adminContext, type AdminContext, type AdminRouterDeps } from './context';
import { registerConsumers } from './consumers';
import { registerUsers } from './users';
import { registerAudit, registerUnknownKeys } from './audit';
import { auditRow } from './presenters';

export type { AdminRouterDeps } from './context';

export function adminRouter(d: AdminRouterDeps, web: WebKit): Router {
  const router = Router();
  router.use(...web.page, d.requireAdmin);
  const ctx = adminContext(d, web);
  registerOverview(router, ctx);
  registerConsumers(router, ctx);
  registerUnknownKeys(router, ctx);
  registerUsers(router, ctx);
  registerAudit(router, ctx);
  return router;
}

/** The console's first page: how many of each, and the latest audit entries. */
function registerOverview(router: Router, { d, web }: AdminContext): void {
  const { consumers, users, grants, audits } = d.services;
  router.get('/', async (req, res) => {
    const [consumerList, userList, live, recent] = await Promise.all([
      consumers.list(),
      users.list(),
      grants.countLiveByConsumer(),
      audits.list({ limit: 10 }),
    ]);
    let grantCount = 0;
    for (const n of live.values()) grantCount += n;
    web.render(req, res, 'admin/index', {
      title: 'Admin',
      section: 'overview',
      counts: { consumers: consumerList.length, users: userList.length, grants: grantCount },
      recent: recent.map(auditRow),
    });
  });
}
