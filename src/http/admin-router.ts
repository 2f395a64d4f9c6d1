/**
 * The admin console under /admin: consumers (create, edit, disable, delete, their tokens),
 * users (create, disable, make admin) and the audit log. Administrators only; everyone
 * else signed in gets 403. Each route converts the form, calls one service action (which
 * checks the actor, and writes the change with its audit entry) and answers; a
 * ServiceError is answered by the error handler, or by the route's onServiceError.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireCsrf, type WebKit } from './web';
import { personName, plural, when } from './views';
import {
  consumerForm,
  formBody,
  formText,
  newConsumerForm,
  newUserForm,
  parseForm,
  passwordSetForm,
  pathId,
  publicKeyForm,
} from './forms';
import { onServiceError } from './service-errors';
import { atlassianLink } from './atlassian-link';
import { failureRow } from './failures';
import { FAILURE_LOG_DEFAULTS, type FailureEntry } from '../db/failure-log';
import type { ManagementServices } from '../wiring';
import type { UserRecord } from '../oauth1/ports';
import { adminActor, type Actor } from '../services/actor';
import type { ConsumerSummary } from '../services/consumers';
import { auditQueryInput, type AuditEntry } from '../services/audit';
import { hasControlCharacters } from '../services/fields';
import { OAuthProblem } from '../oauth1/problems';

export { AUDIT_PAGE_SIZE } from '../services/audit';
import { parseInput } from '../services/fields';
import { notFound, type ServiceError } from '../services/errors';

export interface AdminRouterDeps {
  basePath: string;
  /** the service's public root URL for this request (src/http/request-parts.ts publicRoot) */
  publicRoot: (req: Request) => string;
  /** true when APPLINK_BASE_URL is not set (the root is derived from each request) */
  derivedBaseUrl: boolean;
  services: Pick<ManagementServices, 'consumers' | 'users' | 'grants' | 'audits'>;
  /** the failure log's reads (src/db/failure-log.ts): diagnostics, newest first */
  failures: {
    recent(consumerId: number): Promise<FailureEntry[]>;
    unknownKeys(): Promise<FailureEntry[]>;
  };
  /** the signed-in user of the request */
  currentUser: (req: Request) => Promise<UserRecord | null>;
  /** lets administrators through (403 for others, the sign-in page for strangers) */
  requireAdmin: RequestHandler;
}

const text = (v: unknown): string => formText.parse(v);

/** What views/confirm.ejs shows: the question, what happens, the one POST that does it. */
interface ConfirmPage {
  section: string;
  heading: string;
  message: string;
  consequence?: string;
  action: string;
  confirmLabel: string;
  /** false: a primary button (the action is not destructive) */
  danger?: boolean;
  cancel: string;
}

export function adminRouter(d: AdminRouterDeps, web: WebKit): Router {
  const { consumers, users, grants, audits } = d.services;
  const router = Router();
  const base = `${d.basePath}/admin`;
  router.use(...web.page, d.requireAdmin);
  const post = [web.form, requireCsrf(web)];

  const me = async (req: Request): Promise<UserRecord> => {
    const user = await d.currentUser(req);
    if (!user) throw notFound('signed out');
    return user;
  };
  const actor = async (req: Request): Promise<Actor> => adminActor(await me(req), req.ip ?? null);

  /** The public endpoints a consumer is configured with. */
  const endpoints = (req: Request) => {
    const root = d.publicRoot(req);
    return {
      requestToken: `${root}/oauth/request-token`,
      authorize: `${root}/oauth/authorize`,
      accessToken: `${root}/oauth/access-token`,
      myself: `${root}/rest/api/1/myself`,
    };
  };

  const consumerRow = (c: ConsumerSummary) => ({
    id: c.id,
    key: c.key,
    name: c.name,
    description: c.description,
    callbackUrl: c.callbackUrl,
    hasSecret: c.hasSecret,
    methods: [
      ...(c.hasSecret ? ['HMAC-SHA1', 'HMAC-SHA256'] : []),
      ...(c.hasPublicKey ? ['RSA-SHA1', 'RSA-SHA256'] : []),
    ],
    disabled: c.disabled,
    createdAt: when(c.createdAt),
  });

  // ---- overview -------------------------------------------------------------------------

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

  // ---- consumers ------------------------------------------------------------------------

  const showConsumers = async (req: Request, res: Response, error: ServiceError | null = null) => {
    const form = error ? formBody(req.body) : {};
    const [list, live] = await Promise.all([consumers.list(), grants.countLiveByConsumer()]);
    web.render(
      req,
      res,
      'admin/consumers',
      {
        title: 'Consumers',
        section: 'consumers',
        consumers: list.map((c) => ({ ...consumerRow(c), grants: live.get(c.id) ?? 0 })),
        form: {
          key: text(form.key),
          name: text(form.name),
          description: text(form.description),
          callbackUrl: text(form.callbackUrl),
          publicKeyPem: text(form.publicKeyPem),
          // a new form offers a secret; a re-shown one keeps what was chosen
          withSecret: error ? newConsumerForm.parse(form).withSecret : true,
        },
        error: error?.message ?? null,
      },
      error ? 400 : 200,
    );
  };

  router.get('/consumers', (req, res) => showConsumers(req, res));

  router.post(
    '/consumers',
    ...post,
    onServiceError((e, req, res) => showConsumers(req, res, e)),
    async (req, res) => {
      const created = await consumers.create(await actor(req), parseForm(newConsumerForm, req.body));
      // The secret is on this one response (no-store) and nowhere else in the clear.
      web.render(req, res, 'admin/consumer-created', {
        title: `Consumer ${created.consumer.name} created`,
        section: 'consumers',
        consumer: consumerRow(created.consumer),
        secret: created.secret,
        endpoints: endpoints(req),
      });
    },
  );

  const showConsumer = async (req: Request, res: Response, error: ServiceError | null = null) => {
    const c = await consumers.get({ id: pathId(req.params.id) });
    const form = error ? formBody(req.body) : null;
    const [grantList, failures] = await Promise.all([grants.list({ consumerId: c.id }), d.failures.recent(c.id)]);
    web.render(
      req,
      res,
      'admin/consumer',
      {
        title: `Consumer ${c.name}`,
        section: 'consumers',
        consumer: consumerRow(c),
        form: form
          ? { name: text(form.name), description: text(form.description), callbackUrl: text(form.callbackUrl) }
          : { name: c.name, description: c.description, callbackUrl: c.callbackUrl ?? '' },
        grants: grantList.map((g) => ({
          id: g.id,
          username: g.username,
          authorizedAt: when(g.createdAt),
          lastUsedAt: when(g.lastUsedAt),
          lastAddress: g.lastUsedIp,
        })),
        endpoints: endpoints(req),
        link: atlassianLink(d.publicRoot(req), c, d.derivedBaseUrl),
        failures: failures.map(failureRow),
        failuresKept: FAILURE_LOG_DEFAULTS.keep,
        error: error?.message ?? null,
      },
      error ? 400 : 200,
    );
  };

  router.get('/consumers/:id', (req, res) => showConsumer(req, res));

  router.post(
    '/consumers/:id',
    ...post,
    onServiceError((e, req, res) => showConsumer(req, res, e)),
    async (req, res) => {
      const c = await consumers.update(
        await actor(req),
        { id: pathId(req.params.id) },
        parseForm(consumerForm, req.body),
      );
      req.session.flash = 'Changes saved.';
      res.redirect(302, `${base}/consumers/${c.id}`);
    },
  );

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/consumers/:id/${action}`, ...post, async (req, res) => {
      const { consumer: c } = await consumers.setDisabled(await actor(req), { id: pathId(req.params.id) }, disabled);
      req.session.flash = disabled
        ? `${c.name} is disabled: its tokens stop working until it is enabled again.`
        : `${c.name} is enabled.`;
      res.redirect(302, `${base}/consumers/${c.id}`);
    });
  }

  // Destructive actions confirm first, on a page of their own (no JavaScript needed): the
  // console links to it, and only its form POSTs (with the CSRF token).
  const confirm = (req: Request, res: Response, locals: ConfirmPage) =>
    web.render(req, res, 'confirm', { title: locals.heading, ...locals });

  router.get('/consumers/:id/revoke-all', async (req, res) => {
    const c = await consumers.get({ id: pathId(req.params.id) });
    const n = (await grants.list({ consumerId: c.id })).length;
    confirm(req, res, {
      section: 'consumers',
      heading: `Revoke every token of ${c.name}?`,
      message: `${n} ${plural(n, 'token')} of ${c.name} stop working at their next request.`,
      consequence: 'Each user has to connect the application again to use it.',
      action: `${base}/consumers/${c.id}/revoke-all`,
      confirmLabel: 'Revoke all',
      cancel: `${base}/consumers/${c.id}`,
    });
  });

  router.get('/consumers/:id/tokens/:tokenId/revoke', async (req, res) => {
    const c = await consumers.get({ id: pathId(req.params.id) });
    const [g] = await grants.list({ id: pathId(req.params.tokenId), consumerId: c.id });
    if (!g) {
      req.session.flash = 'That token was already revoked.';
      return res.redirect(302, `${base}/consumers/${c.id}`);
    }
    confirm(req, res, {
      section: 'consumers',
      heading: `Revoke the token of ${g.username}?`,
      message: `${c.name} can no longer act as ${g.username} with this token, from its next request on.`,
      consequence: `${g.username} has to connect ${c.name} again to use it.`,
      action: `${base}/consumers/${c.id}/tokens/${g.id}/revoke`,
      confirmLabel: 'Revoke',
      cancel: `${base}/consumers/${c.id}`,
    });
  });

  router.post('/consumers/:id/revoke-all', ...post, async (req, res) => {
    const { consumer: c, count } = await consumers.revokeAllGrants(await actor(req), { id: pathId(req.params.id) });
    req.session.flash = `Revoked ${count} token${count === 1 ? '' : 's'} of ${c.name}.`;
    res.redirect(302, `${base}/consumers/${c.id}`);
  });

  router.post('/consumers/:id/tokens/:tokenId/revoke', ...post, async (req, res) => {
    const c = await consumers.get({ id: pathId(req.params.id) });
    const revoked = await grants.revoke(await actor(req), { id: pathId(req.params.tokenId), consumerId: c.id });
    if (revoked) req.session.flash = `Revoked the token of ${revoked.username}.`;
    res.redirect(302, `${base}/consumers/${c.id}`);
  });

  // A new shared secret, shown once; the old one is dead at once. Confirmed first: the
  // linked application is refused until the new secret is pasted into it.
  router.get('/consumers/:id/regenerate-secret', async (req, res) => {
    const c = await consumers.get({ id: pathId(req.params.id) });
    web.render(req, res, 'admin/confirm-regenerate-secret', {
      title: `New secret for ${c.name}?`,
      section: 'consumers',
      consumer: consumerRow(c),
    });
  });

  router.post('/consumers/:id/regenerate-secret', ...post, async (req, res) => {
    const done = await consumers.regenerateSecret(await actor(req), { id: pathId(req.params.id) });
    // The secret is on this one response (no-store) and nowhere else in the clear.
    web.render(req, res, 'admin/consumer-secret', {
      title: `New secret for ${done.consumer.name}`,
      section: 'consumers',
      consumer: consumerRow(done.consumer),
      secret: done.secret,
      replaced: done.replaced,
    });
  });

  router.post(
    '/consumers/:id/public-key',
    ...post,
    onServiceError(
      (e, req, res) => {
        req.session.flash = `The public key was not replaced: ${e.message}.`;
        res.redirect(302, `${base}/consumers/${pathId(req.params.id)}`);
      },
      ['invalid_input'],
    ),
    async (req, res) => {
      const { publicKeyPem } = parseForm(publicKeyForm, req.body);
      const c = await consumers.replacePublicKey(await actor(req), { id: pathId(req.params.id) }, publicKeyPem);
      req.session.flash = `The public key of ${c.name} is replaced: requests signed with the old key are refused from now on.`;
      res.redirect(302, `${base}/consumers/${c.id}`);
    },
  );

  router.get('/consumers/:id/delete', async (req, res) => {
    const c = await consumers.get({ id: pathId(req.params.id) });
    const grantList = await grants.list({ consumerId: c.id });
    web.render(req, res, 'admin/confirm-delete', {
      title: `Delete ${c.name}?`,
      section: 'consumers',
      consumer: consumerRow(c),
      grantCount: grantList.length,
    });
  });

  router.post('/consumers/:id/delete', ...post, async (req, res) => {
    // Deleting the consumer deletes its tokens in the same transaction.
    const c = await consumers.delete(await actor(req), { id: pathId(req.params.id) });
    req.session.flash = `Deleted ${c.name} and all its tokens.`;
    res.redirect(302, `${base}/consumers`);
  });

  // ---- unknown consumer keys ----------------------------------------------------------

  // Requests signed with a key no consumer has (a stale or mistyped key in a linked app).
  router.get('/unknown-keys', async (req, res) => {
    web.render(req, res, 'admin/unknown-keys', {
      title: 'Unknown consumer keys',
      section: 'unknown-keys',
      failures: (await d.failures.unknownKeys()).map(failureRow),
      failuresKept: FAILURE_LOG_DEFAULTS.keep,
    });
  });

  // ---- users ----------------------------------------------------------------------------

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

  // ---- audit log ------------------------------------------------------------------------

  router.get('/audit', async (req, res) => {
    // text typed by a person: control characters (NUL included) are refused (400), never searched for;
    // from/to/page that are no date or number are dropped by the service's parse
    const typed = ['event', 'user', 'consumer'].map((k) => req.query[k]);
    if (typed.some((v) => typeof v === 'string' && hasControlCharacters(v)))
      throw new OAuthProblem('parameter_rejected', { advice: 'A filter must not contain control characters.' });
    const q = parseInput(auditQueryInput, req.query);
    const filter = { event: q.event, user: q.user, consumer: q.consumer, from: q.from, to: q.to };
    const [found, events] = await Promise.all([audits.search(q), audits.events()]);
    const link = (page: number) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) if (v) params.set(k, v);
      if (page > 1) params.set('page', String(page));
      const qs = params.toString();
      return `${base}/audit${qs ? `?${qs}` : ''}`;
    };
    web.render(req, res, 'admin/audit', {
      title: 'Audit log',
      section: 'audit',
      filter,
      events,
      entries: found.entries.map(auditRow),
      page: q.page,
      newer: q.page > 1 ? link(q.page - 1) : null,
      older: found.hasOlder ? link(q.page + 1) : null,
    });
  });

  return router;
}

/** An audit entry for the page: its detail as `key: value` pairs. */
function auditRow(e: AuditEntry) {
  let detail = '';
  if (e.detail) {
    try {
      const d = JSON.parse(e.detail) as Record<string, unknown>;
      detail = Object.entries(d)
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
    } catch {
      detail = e.detail;
    }
  }
  return {
    id: e.id,
    at: when(e.at, { seconds: true })!,
    event: e.event,
    actor: e.actor,
    consumerKey: e.consumerKey,
    tokenId: e.tokenId,
    ip: e.ip,
    detail,
  };
}
