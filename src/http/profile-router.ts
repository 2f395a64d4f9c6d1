/** The signed-in user's own pages: the applications they authorized, and revoking them. */
import { Router, type Request, type RequestHandler } from 'express';
import { requireCsrf, type WebKit } from './web';
import { when } from './views';
import { pathId } from './forms';
import type { ManagementServices } from '../wiring';
import type { UserRecord } from '../oauth1/ports';
import { userActor } from '../services/actor';
import { notFound } from '../services/errors';

/** Where Atlassian products send their users to manage the tokens they gave out. */
export const ATLASSIAN_ACCESS_TOKENS_PATH = '/plugins/servlet/oauth/users/access-tokens';

export interface ProfileRouterDeps {
  basePath: string;
  /** the sign-in page that comes back to `next` */
  loginUrl: (next: string, req: Request) => string;
  services: Pick<ManagementServices, 'grants'>;
  currentUser: (req: Request) => Promise<UserRecord | null>;
  /** lets signed-in users through (others go to the sign-in page) */
  requireUser: RequestHandler;
}

export function profileRouter(d: ProfileRouterDeps, web: WebKit): Router {
  const { grants } = d.services;
  const router = Router();
  const home = `${d.basePath}/profile/authorized-apps`;
  const me = async (req: Request): Promise<UserRecord> => {
    const user = await d.currentUser(req);
    if (!user) throw notFound('signed out');
    return user;
  };

  // Atlassian's address for "manage your tokens": after every successful dance Jira and
  // Confluence link their users to <provider>/plugins/servlet/oauth/users/access-tokens.
  // It leads to the authorized-apps page, through sign-in when needed (one hop: the
  // sign-in page comes back to the authorized-apps page itself). Express matches it with
  // or without a trailing slash; a query string is dropped (nothing there is ours).
  router.get(ATLASSIAN_ACCESS_TOKENS_PATH, ...web.page, async (req, res) => {
    res.redirect(302, (await d.currentUser(req)) ? home : d.loginUrl(home, req));
  });

  router.get('/profile/authorized-apps', ...web.page, d.requireUser, async (req, res) => {
    const user = await me(req);
    const list = await grants.list({ userId: user.id });
    web.render(req, res, 'authorized-apps', {
      title: 'Authorized applications',
      user,
      grants: list.map((g) => ({
        id: g.id,
        app: g.consumerName,
        consumerKey: g.consumerKey,
        authorizedAt: when(g.createdAt),
        lastUsedAt: when(g.lastUsedAt),
        lastAddress: g.lastUsedIp,
        expiresAt: when(g.expiresAt),
      })),
    });
  });

  router.post(
    '/profile/authorized-apps/revoke-all',
    ...web.page,
    web.form,
    requireCsrf(web),
    d.requireUser,
    async (req, res) => {
      const user = await me(req);
      const count = await grants.revokeAll(userActor(user, req.ip ?? null), { userId: user.id });
      req.session.flash =
        count === 0
          ? 'There was nothing to revoke.'
          : `Access revoked for ${count} application${count === 1 ? '' : 's'}.`;
      res.redirect(302, home);
    },
  );

  router.post(
    '/profile/authorized-apps/:id/revoke',
    ...web.page,
    web.form,
    requireCsrf(web),
    d.requireUser,
    async (req, res) => {
      const user = await me(req);
      // Only the user's own live grant; anything else changes nothing. The audit entry is
      // written in the revoking transaction.
      const revoked = await grants.revoke(userActor(user, req.ip ?? null), { id: pathIdOrZero(req.params.id) });
      req.session.flash = revoked
        ? `Access revoked for ${revoked.consumerName}.`
        : 'That authorization was already revoked.';
      res.redirect(302, home);
    },
  );

  return router;
}

/** A grant id from the path; a malformed one matches no grant (the page then says so). */
function pathIdOrZero(v: unknown): number {
  try {
    return pathId(v);
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}
