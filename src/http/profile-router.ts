/** The signed-in user's own pages: the applications they authorized, and revoking them. */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireCsrf, saveSession, signedInUser, type WebKit } from './web';
import { plural, when } from './views';
import { parseForm, passwordChangeForm, pathId } from './forms';
import { onServiceError } from './service-errors';
import type { ManagementServices } from '../wiring';
import type { UserRecord } from '../oauth1/ports';
import { userActor } from '../services/actor';
import type { ServiceError } from '../errors';
import { byApplication } from '../services/grants';
import { sessionMark } from './web/session-start';

/** Where Atlassian products send their users to manage the tokens they gave out. */
export const ATLASSIAN_ACCESS_TOKENS_PATH = '/plugins/servlet/oauth/users/access-tokens';

export interface ProfileRouterDeps {
  basePath: string;
  /** the sign-in page that comes back to `next` */
  loginUrl: (next: string, req: Request) => string;
  services: Pick<ManagementServices, 'grants' | 'users'>;
  currentUser: (req: Request) => Promise<UserRecord | null>;
  /** lets signed-in users through (others go to the sign-in page) */
  requireUser: RequestHandler;
}

export function profileRouter(d: ProfileRouterDeps, web: WebKit): Router {
  const { grants, users } = d.services;
  const router = Router();
  const home = `${d.basePath}/profile/authorized-apps`;
  const me = signedInUser(d.currentUser);

  // Atlassian's address for "manage your tokens": after every successful dance Jira and
  // Confluence link their users to <provider>/plugins/servlet/oauth/users/access-tokens.
  // It leads to the authorized-apps page, through sign-in when needed (one hop: the
  // sign-in page comes back to the authorized-apps page itself). Express matches it with
  // or without a trailing slash; a query string is dropped (nothing there is ours).
  router.get(ATLASSIAN_ACCESS_TOKENS_PATH, ...web.page, async (req, res) => {
    res.redirect(302, (await d.currentUser(req)) ? home : d.loginUrl(home, req));
  });

  // One row per application (however many tokens it holds), revoked as a whole.
  router.get('/profile/authorized-apps', ...web.page, d.requireUser, async (req, res) => {
    const user = await me(req);
    const apps = byApplication(await grants.list({ userId: user.id }));
    web.render(req, res, 'authorized-apps', {
      title: 'Authorized applications',
      user,
      apps: apps.map((a) => ({
        id: a.newestId,
        app: a.consumerName,
        consumerKey: a.consumerKey,
        tokens: a.tokens,
        firstAuthorizedAt: when(a.firstAuthorizedAt),
        lastAuthorizedAt: a.tokens > 1 ? when(a.lastAuthorizedAt) : null,
        lastUsedAt: when(a.lastUsedAt),
        lastAddress: a.lastUsedIp,
      })),
    });
  });

  // Destructive actions confirm first, on a page of their own (no JavaScript needed): the
  // list links to it, and only its form POSTs (with the CSRF token).
  router.get('/profile/authorized-apps/revoke-all', ...web.page, d.requireUser, async (req, res) => {
    const user = await me(req);
    const apps = byApplication(await grants.list({ userId: user.id }));
    if (apps.length === 0) {
      req.session.flash = 'There was nothing to revoke.';
      res.redirect(302, home);
      return;
    }
    const names = apps.map((a) => a.consumerName).join(', ');
    web.render(req, res, 'confirm', {
      title: 'Revoke every application?',
      heading: 'Revoke every application?',
      message: `${apps.length} ${plural(apps.length, 'application')} will no longer be able to act as you: ${names}.`,
      consequence: 'Each stops at its next request. To use one again, connect it again from that application.',
      action: `${home}/revoke-all`,
      confirmLabel: 'Revoke all',
      cancel: home,
    });
  });

  router.get('/profile/authorized-apps/:id/revoke', ...web.page, d.requireUser, async (req, res) => {
    const user = await me(req);
    const list = await grants.list({ userId: user.id });
    const grant = list.find((g) => g.id === pathIdOrZero(req.params.id));
    const app = grant && byApplication(list).find((a) => a.consumerId === grant.consumerId);
    if (!grant || !app) {
      req.session.flash = 'That authorization was already revoked.';
      res.redirect(302, home);
      return;
    }
    web.render(req, res, 'confirm', {
      title: `Revoke ${app.consumerName}?`,
      heading: `Revoke ${app.consumerName}?`,
      message: `${app.consumerName} will no longer be able to act as you${
        app.tokens > 1 ? ` (all ${app.tokens} of its tokens are revoked)` : ''
      }.`,
      consequence: 'It stops at its next request. To use it again, connect it again from the application.',
      action: `${home}/${grant.id}/revoke`,
      confirmLabel: `Revoke ${app.consumerName}`,
      cancel: home,
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
      const apps = byApplication(await grants.list({ userId: user.id })).length;
      const count = await grants.revokeAll(userActor(user, req.ip ?? null), { userId: user.id });
      req.session.flash =
        count === 0 ? 'There was nothing to revoke.' : `Access revoked for ${apps} ${plural(apps, 'application')}.`;
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
      // The whole application (every token it holds for this user), and only the user's
      // own; anything else changes nothing. One transaction with its audit entry.
      const revoked = await grants.revokeApplication(userActor(user, req.ip ?? null), {
        id: pathIdOrZero(req.params.id),
      });
      req.session.flash = revoked
        ? `Access revoked for ${revoked.consumerName}.`
        : 'That authorization was already revoked.';
      res.redirect(302, home);
    },
  );

  // ---- the user's own password ------------------------------------------------------------

  const passwordPage = `${d.basePath}/profile/password`;
  const showPassword = async (req: Request, res: Response, error: ServiceError | null = null) => {
    const user = await me(req);
    const found = await users.hasPassword(user.id);
    web.render(
      req,
      res,
      'password',
      { title: 'Change your password', user, hasPassword: found, error: error?.message ?? null },
      error ? error.httpStatus : 200,
    );
  };

  router.get('/profile/password', ...web.page, d.requireUser, (req, res) => showPassword(req, res));

  router.post(
    '/profile/password',
    ...web.page,
    web.form,
    requireCsrf(web),
    d.requireUser,
    onServiceError((e, req, res) => showPassword(req, res, e), ['invalid_input', 'refused', 'throttled']),
    async (req, res) => {
      const user = await me(req);
      const f = parseForm(passwordChangeForm, req.body);
      await users.changeOwnPassword(userActor(user, req.ip ?? null), f);
      // Every other session of this user is over now; this one goes on under the new generation,
      // saved before the answer (the browser follows the redirect at once).
      req.session.generation = (await sessionMark(users, user)).generation;
      req.session.flash = 'Your password is changed.';
      await saveSession(req);
      res.redirect(302, passwordPage);
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
