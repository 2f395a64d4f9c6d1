/**
 * The admin console under /admin: consumers (create, edit, disable, delete, their tokens),
 * users (create, disable, make admin) and the audit log. Administrators only; everyone
 * else signed in gets 403. Every change is audited with the admin as actor.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { currentUser, requireAdmin, requireCsrf, type WebKit } from './web';
import { formString, newUserFields, when } from './views';
import { requestOrigin } from './request-parts';
import { atlassianLink } from './atlassian-link';
import { InvalidInputError, type ConsumerSummary } from '../db/consumers';
import { DuplicateError, InvalidUserError, validateNewUser } from '../db/users';
import type { Services } from '../services';
import type { UserRecord } from '../oauth1/ports';
import type { AuditEntry } from '../db/audit';
import { hasControlCharacters } from '../services/fields';
import { OAuthProblem } from '../oauth1/problems';

export const AUDIT_PAGE_SIZE = 50;

const str = formString;
const checked = (v: unknown): boolean => v === 'on' || v === 'yes' || v === 'true';

/** A positive integer id from the path, or null (the route then answers 404). */
function idOf(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** `YYYY-MM-DD` (UTC day start) to ms, or undefined. */
function dayOf(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v)) return undefined;
  const t = Date.parse(`${v}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : t;
}

const DAY = 86_400_000;

export function adminRouter(s: Services, web: WebKit): Router {
  const router = Router();
  const base = `${s.config.basePath}/admin`;
  router.use(...web.page, requireAdmin(s, web));
  const post = [web.form, requireCsrf(web)];

  const admin = async (req: Request): Promise<UserRecord> => (await currentUser(req, s))!;
  const audit = async (
    req: Request,
    event: string,
    f: { consumerId?: number; tokenId?: number; detail?: Record<string, unknown> } = {},
  ) =>
    s.store.audit({
      event,
      actorUserId: (await admin(req)).id,
      consumerId: f.consumerId ?? null,
      tokenId: f.tokenId ?? null,
      ip: req.ip ?? null,
      detail: { by: 'admin', ...f.detail },
    });

  /** The public base URL (origin and base path) consumers use. */
  const publicRoot = (req: Request) =>
    (s.config.baseUrl ? s.config.baseUrl.origin : requestOrigin(req, s.config)) + s.config.basePath;

  /** The public endpoints a consumer is configured with. */
  const endpoints = (req: Request) => {
    const root = publicRoot(req);
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
    const [consumers, users, live, recent] = await Promise.all([
      s.consumers.list(),
      s.users.list(),
      s.tokens.countLiveByConsumer(),
      s.audits.list({ limit: 10 }),
    ]);
    let grants = 0;
    for (const n of live.values()) grants += n;
    web.render(req, res, 'admin/index', {
      title: 'Admin',
      section: 'overview',
      counts: { consumers: consumers.length, users: users.length, grants },
      recent: recent.map(auditRow),
    });
  });

  // ---- consumers ------------------------------------------------------------------------

  const showConsumers = async (
    req: Request,
    res: Response,
    form: Record<string, unknown> = {},
    error: string | null = null,
  ) => {
    const [list, live] = await Promise.all([s.consumers.list(), s.tokens.countLiveByConsumer()]);
    web.render(
      req,
      res,
      'admin/consumers',
      {
        title: 'Consumers',
        section: 'consumers',
        consumers: list.map((c) => ({ ...consumerRow(c), grants: live.get(c.id) ?? 0 })),
        form: {
          key: str(form.key),
          name: str(form.name),
          description: str(form.description),
          callbackUrl: str(form.callbackUrl),
          publicKeyPem: str(form.publicKeyPem),
          // a new form offers a secret; a re-shown one keeps what was chosen
          withSecret: Object.keys(form).length === 0 ? true : checked(form.withSecret),
        },
        error,
      },
      error ? 400 : 200,
    );
  };

  router.get('/consumers', (req, res) => showConsumers(req, res));

  router.post('/consumers', ...post, async (req, res) => {
    const b = req.body as Record<string, unknown>;
    const pem = str(b.publicKeyPem).trim();
    let created;
    try {
      created = await s.consumers.create({
        key: str(b.key).trim(),
        name: str(b.name),
        description: str(b.description, 2000).trim(),
        callbackUrl: str(b.callbackUrl).trim() || undefined,
        publicKeyPem: pem || undefined,
        withSecret: checked(b.withSecret),
      });
    } catch (e) {
      if (e instanceof InvalidInputError || e instanceof DuplicateError) return showConsumers(req, res, b, e.message);
      throw e;
    }
    await audit(req, 'consumer.created', { consumerId: created.consumer.id });
    // The secret is on this one response (no-store) and nowhere else in the clear.
    web.render(req, res, 'admin/consumer-created', {
      title: `Consumer ${created.consumer.name} created`,
      section: 'consumers',
      consumer: consumerRow(created.consumer),
      secret: created.secret,
      endpoints: endpoints(req),
    });
  });

  const consumerOr404 = async (req: Request): Promise<ConsumerSummary | null> => {
    const id = idOf(req.params.id);
    return id === null ? null : s.consumers.findById(id);
  };

  const showConsumer = async (
    req: Request,
    res: Response,
    c: ConsumerSummary,
    form: Record<string, unknown> | null = null,
    error: string | null = null,
  ) => {
    const grants = await s.tokens.list({ consumerId: c.id });
    web.render(
      req,
      res,
      'admin/consumer',
      {
        title: `Consumer ${c.name}`,
        section: 'consumers',
        consumer: consumerRow(c),
        form: form
          ? { name: str(form.name), description: str(form.description), callbackUrl: str(form.callbackUrl) }
          : { name: c.name, description: c.description, callbackUrl: c.callbackUrl ?? '' },
        grants: grants.map((g) => ({
          id: g.id,
          username: g.username,
          authorizedAt: when(g.createdAt),
          lastUsedAt: when(g.lastUsedAt),
          lastAddress: g.lastUsedIp,
        })),
        endpoints: endpoints(req),
        link: atlassianLink(publicRoot(req), c, !s.config.baseUrl),
        error,
      },
      error ? 400 : 200,
    );
  };

  router.get('/consumers/:id', async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    await showConsumer(req, res, c);
  });

  router.post('/consumers/:id', ...post, async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    const b = req.body as Record<string, unknown>;
    try {
      await s.consumers.update(c.id, {
        name: str(b.name),
        description: str(b.description, 2000).trim(),
        callbackUrl: str(b.callbackUrl).trim() || null,
      });
    } catch (e) {
      if (e instanceof InvalidInputError) return showConsumer(req, res, c, b, e.message);
      throw e;
    }
    await audit(req, 'consumer.updated', { consumerId: c.id });
    req.session.flash = 'Changes saved.';
    res.redirect(302, `${base}/consumers/${c.id}`);
  });

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/consumers/:id/${action}`, ...post, async (req, res, next) => {
      const c = await consumerOr404(req);
      if (!c) return next();
      if (await s.consumers.setDisabled(c.id, disabled)) await audit(req, `consumer.${action}d`, { consumerId: c.id });
      req.session.flash = disabled
        ? `${c.name} is disabled: its tokens stop working until it is enabled again.`
        : `${c.name} is enabled.`;
      res.redirect(302, `${base}/consumers/${c.id}`);
    });
  }

  router.post('/consumers/:id/revoke-all', ...post, async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    const count = await s.tokens.revokeAll(
      { consumerId: c.id },
      {
        event: 'access_token.revoked_all',
        actorUserId: (await admin(req)).id,
        consumerId: c.id,
        ip: req.ip ?? null,
        detail: { by: 'admin' },
      },
    );
    req.session.flash = `Revoked ${count} token${count === 1 ? '' : 's'} of ${c.name}.`;
    res.redirect(302, `${base}/consumers/${c.id}`);
  });

  router.post('/consumers/:id/tokens/:tokenId/revoke', ...post, async (req, res, next) => {
    const c = await consumerOr404(req);
    const tokenId = idOf(req.params.tokenId);
    if (!c || tokenId === null) return next();
    const grant = (await s.tokens.list({ consumerId: c.id })).find((g) => g.id === tokenId);
    const revoked =
      grant &&
      (await s.tokens.revoke(tokenId, undefined, {
        event: 'access_token.revoked',
        actorUserId: (await admin(req)).id,
        ip: req.ip ?? null,
        detail: { by: 'admin' },
      }));
    if (grant && revoked) {
      req.session.flash = `Revoked the token of ${grant.username}.`;
    }
    res.redirect(302, `${base}/consumers/${c.id}`);
  });

  // A new shared secret, shown once; the old one is dead at once. Confirmed first: the
  // linked application is refused until the new secret is pasted into it.
  router.get('/consumers/:id/regenerate-secret', async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    web.render(req, res, 'admin/confirm-regenerate-secret', {
      title: `New secret for ${c.name}?`,
      section: 'consumers',
      consumer: consumerRow(c),
    });
  });

  router.post('/consumers/:id/regenerate-secret', ...post, async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    const done = await s.consumers.regenerateSecret(c.id, {
      event: 'consumer.secret_regenerated',
      actorUserId: (await admin(req)).id,
      ip: req.ip ?? null,
      detail: { by: 'admin' },
    });
    if (!done) return next();
    // The secret is on this one response (no-store) and nowhere else in the clear.
    web.render(req, res, 'admin/consumer-secret', {
      title: `New secret for ${done.consumer.name}`,
      section: 'consumers',
      consumer: consumerRow(done.consumer),
      secret: done.secret,
      replaced: done.replaced,
    });
  });

  router.get('/consumers/:id/delete', async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    const grants = await s.tokens.list({ consumerId: c.id });
    web.render(req, res, 'admin/confirm-delete', {
      title: `Delete ${c.name}?`,
      section: 'consumers',
      consumer: consumerRow(c),
      grantCount: grants.length,
    });
  });

  router.post('/consumers/:id/delete', ...post, async (req, res, next) => {
    const c = await consumerOr404(req);
    if (!c) return next();
    // Deleting the consumer deletes its tokens in the same transaction.
    if (await s.consumers.deleteByKey(c.key)) await audit(req, 'consumer.deleted', { detail: { consumerKey: c.key } });
    req.session.flash = `Deleted ${c.name} and all its tokens.`;
    res.redirect(302, `${base}/consumers`);
  });

  // ---- users ----------------------------------------------------------------------------

  const showUsers = async (
    req: Request,
    res: Response,
    form: Record<string, unknown> = {},
    error: string | null = null,
  ) => {
    const me = await admin(req);
    const users = await s.users.list();
    web.render(
      req,
      res,
      'admin/users',
      {
        title: 'Users',
        section: 'users',
        users: users.map((u) => ({
          id: u.id,
          username: u.username,
          email: u.email,
          displayName: u.displayName,
          isAdmin: u.isAdmin,
          disabled: u.disabled,
          isMe: u.id === me.id,
          createdAt: when(u.createdAt),
        })),
        form: {
          username: str(form.username),
          email: str(form.email),
          displayName: str(form.displayName),
          isAdmin: checked(form.isAdmin),
        },
        error,
      },
      error ? 400 : 200,
    );
  };

  router.get('/users', (req, res) => showUsers(req, res));

  router.post('/users', ...post, async (req, res) => {
    const b = req.body as Record<string, unknown>;
    const fields = newUserFields(b, checked(b.isAdmin));
    let created;
    try {
      validateNewUser(fields);
      created = await s.users.create(fields);
    } catch (e) {
      if (e instanceof InvalidUserError || e instanceof DuplicateError) return showUsers(req, res, b, e.message);
      throw e;
    }
    await audit(req, 'user.created', { detail: { username: created.username, admin: created.isAdmin } });
    req.session.flash = `Created ${created.username}${created.isAdmin ? ' (administrator)' : ''}.`;
    res.redirect(302, `${base}/users`);
  });

  const userAction =
    (
      change: (username: string) => Promise<UserRecord | null>,
      event: string,
      done: (u: UserRecord) => string,
      refuseSelf: string,
    ) =>
    async (req: Request, res: Response, next: NextFunction) => {
      const id = idOf(req.params.id);
      const target = id === null ? null : await s.users.findById(id);
      if (!target) return next();
      // An admin cannot lock themselves out (and so never removes the last admin this way).
      if (target.id === (await admin(req)).id) {
        req.session.flash = refuseSelf;
        return res.redirect(302, `${base}/users`);
      }
      const changed = await change(target.username);
      if (changed) {
        await audit(req, event, { detail: { username: changed.username } });
        req.session.flash = done(changed);
      }
      res.redirect(302, `${base}/users`);
    };

  router.post(
    '/users/:id/disable',
    ...post,
    userAction(
      (u) => s.users.setDisabled(u, true),
      'user.disabled',
      (u) => `${u.username} is disabled: signed out everywhere, and every app acting for them stops.`,
      'You cannot disable your own account.',
    ),
  );
  router.post(
    '/users/:id/enable',
    ...post,
    userAction(
      (u) => s.users.setDisabled(u, false),
      'user.enabled',
      (u) => `${u.username} is enabled.`,
      'You cannot enable your own account.',
    ),
  );
  router.post(
    '/users/:id/make-admin',
    ...post,
    userAction(
      (u) => s.users.setAdmin(u, true),
      'user.admin_granted',
      (u) => `${u.username} is now an administrator.`,
      'You are an administrator already.',
    ),
  );
  router.post(
    '/users/:id/remove-admin',
    ...post,
    userAction(
      (u) => s.users.setAdmin(u, false),
      'user.admin_revoked',
      (u) => `${u.username} is no longer an administrator.`,
      'You cannot remove your own administrator rights.',
    ),
  );

  // ---- audit log ------------------------------------------------------------------------

  router.get('/audit', async (req, res) => {
    const q = req.query;
    const filter = {
      event: str(q.event, 64),
      user: str(q.user, 200).trim(),
      consumer: str(q.consumer, 255).trim(),
      from: dayOf(q.from) !== undefined ? str(q.from) : '',
      to: dayOf(q.to) !== undefined ? str(q.to) : '',
    };
    // text typed by a person: control characters (NUL included) never reach the database
    if (Object.values(filter).some((v) => hasControlCharacters(v)))
      throw new OAuthProblem('parameter_rejected', { advice: 'A filter must not contain control characters.' });
    const pageNo = Math.min(Math.max(idOf(str(q.page)) ?? 1, 1), 100_000);
    const to = dayOf(filter.to);
    const rows = await s.audits.list({
      event: filter.event || undefined,
      username: filter.user || undefined,
      consumerKey: filter.consumer || undefined,
      since: dayOf(filter.from),
      until: to === undefined ? undefined : to + DAY,
      limit: AUDIT_PAGE_SIZE + 1,
      offset: (pageNo - 1) * AUDIT_PAGE_SIZE,
    });
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
      events: await s.audits.events(),
      entries: rows.slice(0, AUDIT_PAGE_SIZE).map(auditRow),
      page: pageNo,
      newer: pageNo > 1 ? link(pageNo - 1) : null,
      older: rows.length > AUDIT_PAGE_SIZE ? link(pageNo + 1) : null,
    });
  });

  return router;
}

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
