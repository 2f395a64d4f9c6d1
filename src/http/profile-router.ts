/** The signed-in user's own pages: the applications they authorized, and revoking them. */
import { Router } from 'express';
import { currentUser, loginUrl, requireCsrf, requireUser, type WebKit } from './web';
import { when } from './views';
import type { Services } from '../services';

/** Where Atlassian products send their users to manage the tokens they gave out. */
export const ATLASSIAN_ACCESS_TOKENS_PATH = '/plugins/servlet/oauth/users/access-tokens';

export function profileRouter(s: Services, web: WebKit): Router {
  const router = Router();
  const home = `${s.config.basePath}/profile/authorized-apps`;

  // Atlassian's address for "manage your tokens": after every successful dance Jira and
  // Confluence link their users to <provider>/plugins/servlet/oauth/users/access-tokens.
  // It leads to the authorized-apps page, through sign-in when needed (one hop: the
  // sign-in page comes back to the authorized-apps page itself). Express matches it with
  // or without a trailing slash; a query string is dropped (nothing there is ours).
  router.get(ATLASSIAN_ACCESS_TOKENS_PATH, ...web.page, async (req, res) => {
    res.redirect(302, (await currentUser(req, s)) ? home : loginUrl(s, home, req));
  });

  router.get('/profile/authorized-apps', ...web.page, requireUser(s), async (req, res) => {
    const user = (await currentUser(req, s))!;
    const grants = await s.tokens.list({ userId: user.id });
    web.render(req, res, 'authorized-apps', {
      title: 'Authorized applications',
      user,
      grants: grants.map((g) => ({
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
    requireUser(s),
    async (req, res) => {
      const user = (await currentUser(req, s))!;
      const count = await s.tokens.revokeAll(
        { userId: user.id },
        { event: 'access_token.revoked_all', actorUserId: user.id, ip: req.ip ?? null, detail: { by: 'user' } },
      );
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
    requireUser(s),
    async (req, res) => {
      const user = (await currentUser(req, s))!;
      const id = Number(req.params.id);
      const grant = Number.isSafeInteger(id)
        ? (await s.tokens.list({ userId: user.id })).find((g) => g.id === id)
        : null;
      // Only the user's own live grant; anything else changes nothing.
      // The audit entry is written in the revoking transaction.
      const revoked =
        grant &&
        (await s.tokens.revoke(id, user.id, {
          event: 'access_token.revoked',
          actorUserId: user.id,
          ip: req.ip ?? null,
          detail: { by: 'user' },
        }));
      if (grant && revoked) {
        req.session.flash = `Access revoked for ${grant.consumerName}.`;
      } else {
        req.session.flash = 'That authorization was already revoked.';
      }
      res.redirect(302, home);
    },
  );

  return router;
}
