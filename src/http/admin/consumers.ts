/**
 * The console's consumers: list and create, one consumer's page (edit, disable, enable),
 * its tokens (revoke one, revoke all), a new secret, a new public key, and delete.
 */
import type { Request, Response, Router } from 'express';
import { plural, when } from '../views';
import { consumerForm, formBody, newConsumerForm, parseForm, pathId, publicKeyForm } from '../forms';
import { onServiceError } from '../service-errors';
import { atlassianLink } from '../atlassian-link';
import { failureRow } from '../failures';
import { FAILURE_LOG_DEFAULTS } from '../../db/failure-log';
import type { ConsumerSummary } from '../../services/consumers';
import type { ServiceError } from '../../errors';
import { text, type AdminContext } from './context';

/** A consumer for the pages: what it is and the signature methods it can use. */
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

export function registerConsumers(router: Router, { d, web, base, post, actor, confirm }: AdminContext): void {
  const { consumers, grants } = d.services;

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
      res.redirect(302, `${base}/consumers/${c.id}`);
      return;
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
}
