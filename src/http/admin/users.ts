/**
 * The console's users: list and create, disable and enable, make and remove
 * administrators (confirmed first where it matters), and set another user's password.
 */
import type { Request, Response, Router } from 'express';
import { personName, when } from '../views';
import { formBody, newUserForm, parseForm, passwordSetForm, pathId } from '../forms';
import { onServiceError } from '../service-errors';
import type { UserRecord } from '../../oauth1/ports';
import type { Actor } from '../../services/actor';
import { notFound, type ServiceError } from '../../errors';
import type { ConfirmPage } from './confirm';
import { text, type AdminContext } from './context';

export function registerUsers(router: Router, { d, web, base, post, me, actor, confirm }: AdminContext): void {
  const { users } = d.services;

  const showUsers = async (req: Request, res: Response, error: ServiceError | null = null) => {
    const form = error ? formBody(req.body) : {};
    const self = await me(req);
    const list = await users.list();
    web.render(
      req,
      res,
      'admin/users',
      {
        title: 'Users',
        section: 'users',
        users: list.map((u) => ({
          id: u.id,
          username: u.username,
          email: u.email,
          displayName: u.displayName,
          isAdmin: u.isAdmin,
          disabled: u.disabled,
          isMe: u.id === self.id,
          createdAt: when(u.createdAt),
        })),
        form: {
          username: text(form.username),
          email: text(form.email),
          displayName: text(form.displayName),
          isAdmin: error ? newUserForm.parse(form).isAdmin : false,
        },
        error: error?.message ?? null,
      },
      error ? 400 : 200,
    );
  };

  router.get('/users', (req, res) => showUsers(req, res));

  router.post(
    '/users',
    ...post,
    onServiceError((e, req, res) => showUsers(req, res, e)),
    async (req, res) => {
      const created = await users.create(await actor(req), parseForm(newUserForm, req.body));
      req.session.flash = `Created ${created.username}${created.isAdmin ? ' (administrator)' : ''}.`;
      res.redirect(302, `${base}/users`);
    },
  );

  // An admin cannot lock themselves out (the service refuses; the console says why).
  const refusedOnSelf = onServiceError(
    (e, req, res) => {
      req.session.flash = e.message;
      res.redirect(302, `${base}/users`);
    },
    ['forbidden'],
  );
  const userAction = (
    path: string,
    change: (a: Actor, id: number) => Promise<UserRecord>,
    done: (u: UserRecord) => string,
  ) =>
    router.post(path, ...post, refusedOnSelf, async (req, res) => {
      const changed = await change(await actor(req), pathId(req.params.id));
      req.session.flash = done(changed);
      res.redirect(302, `${base}/users`);
    });

  const userConfirm = (path: string, page: (u: UserRecord, id: number) => Omit<ConfirmPage, 'section' | 'cancel'>) =>
    router.get(path, async (req, res) => {
      const id = pathId(req.params.id);
      const u = await users.findById(id);
      if (!u) throw notFound('There is no page at this address.');
      confirm(req, res, { section: 'users', cancel: `${base}/users`, ...page(u, id) });
    });
  userConfirm('/users/:id/disable', (u, id) => ({
    heading: `Disable ${u.username}?`,
    message: `${u.username} is signed out everywhere, and every application acting for them stops at its next request.`,
    consequence: 'Their account, grants and history stay; enable the account to let them back in.',
    action: `${base}/users/${id}/disable`,
    confirmLabel: `Disable ${u.username}`,
  }));
  userConfirm('/users/:id/make-admin', (u, id) => ({
    heading: `Make ${u.username} an administrator?`,
    message: `${u.username} can then manage consumers, users (you included) and read the audit log.`,
    consequence: 'You can remove the rights again on the users page.',
    action: `${base}/users/${id}/make-admin`,
    confirmLabel: `Make ${u.username} an administrator`,
    danger: false,
  }));

  // An administrator sets another user's password (they hand it over; no e-mail here).
  const showSetPassword = async (req: Request, res: Response, error: ServiceError | null = null) => {
    const id = pathId(req.params.id);
    const u = await users.findById(id);
    if (!u) throw notFound('There is no page at this address.');
    web.render(
      req,
      res,
      'admin/user-password',
      {
        title: `Set a password for ${u.username}`,
        section: 'users',
        target: { id: u.id, username: u.username, name: personName(u), hasPassword: await users.hasPassword(u.id) },
        error: error?.message ?? null,
      },
      error ? error.httpStatus : 200,
    );
  };
  router.get('/users/:id/password', (req, res) => showSetPassword(req, res));
  router.post(
    '/users/:id/password',
    ...post,
    refusedOnSelf,
    onServiceError((e, req, res) => showSetPassword(req, res, e)),
    async (req, res) => {
      const u = await users.setPassword(
        await actor(req),
        { id: pathId(req.params.id) },
        parseForm(passwordSetForm, req.body),
      );
      req.session.flash = `The password of ${u.username} is set. Give it to them through a safe channel.`;
      res.redirect(302, `${base}/users`);
    },
  );

  userAction(
    '/users/:id/disable',
    (a, id) => users.setDisabled(a, { id }, true),
    (u) => `${u.username} is disabled: signed out everywhere, and every app acting for them stops.`,
  );
  userAction(
    '/users/:id/enable',
    (a, id) => users.setDisabled(a, { id }, false),
    (u) => `${u.username} is enabled.`,
  );
  userAction(
    '/users/:id/make-admin',
    (a, id) => users.setAdmin(a, { id }, true),
    (u) => `${u.username} is now an administrator.`,
  );
  userAction(
    '/users/:id/remove-admin',
    (a, id) => users.setAdmin(a, { id }, false),
    (u) => `${u.username} is no longer an administrator.`,
  );
}
