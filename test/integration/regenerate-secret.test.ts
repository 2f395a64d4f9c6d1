// Regenerating a consumer's shared secret, on SQLite and PostgreSQL: in the admin console
// (confirmed, shown once, audited) and through the real `applink` process against the
// running server's database. The old secret is dead on the very next request, the users'
// grants stay, and the change and its audit entry commit together or not at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/services/actor';
import { seedUser, startTestServer, type TestServer } from '../helpers/server';
import { testDatabases } from '../helpers/server';
import { browse, CookieJar, csrfOf, form, signIn } from '../helpers/browser';
import { linkApp, type Linked } from '../helpers/gateway';
import { signedFetch } from '../helpers/sign';
import { runCli } from '../helpers/cli';
import { must } from '../helpers/must';
import { capture } from '../helpers/capture';

const MYSELF = '/rest/api/1/myself';

describe.each(await testDatabases())('regenerating a consumer secret on %s', (database) => {
  let server: TestServer;
  let admin: CookieJar;
  let linked: Linked;
  let consumerId: number;

  beforeAll(async () => {
    server = await startTestServer({ database });
    await seedUser(server, 'root', { admin: true });
    await seedUser(server, 'alice');
    linked = await linkApp(server.url, server.services, 'alice', 'jira');
    consumerId = must(await server.services.consumers.findByKey('jira'), 'consumer jira').id;
    admin = new CookieJar();
    expect((await signIn(server.url, admin, 'root')).status).toBe(302);
  });
  // beforeAll may have stopped before the server started
  afterAll(() => (server as TestServer | undefined)?.stop());

  /** A signed API call as alice's grant, with the given consumer secret. */
  const callWith = (consumerSecret: string) =>
    signedFetch(`${server.url}${MYSELF}`, {
      consumerKey: 'jira',
      consumerSecret,
      token: linked.token.key,
      tokenSecret: linked.token.secret,
    });
  /** A request-token step (form body, as Jira sends it), with the given consumer secret. */
  const requestTokenWith = (consumerSecret: string) =>
    signedFetch(`${server.url}/plugins/servlet/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'jira',
      consumerSecret,
      oauth: { oauth_callback: 'https://jira.example.com/plugins/servlet/applinks/oauth/login-dance/access' },
      place: 'body',
    });

  const regenerateInConsole = async (): Promise<string> => {
    const confirm = await browse(admin, `${server.url}/admin/consumers/${consumerId}/regenerate-secret`);
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    expect(html).toContain('stops working at once');
    const res = await browse(
      admin,
      `${server.url}/admin/consumers/${consumerId}/regenerate-secret`,
      form({ _csrf: csrfOf(html) }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    const secret = capture(
      /id="consumer-secret" class="copy" readonly value="([^"]+)"/,
      page,
      'the new secret on the page',
    );
    expect(secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    return secret;
  };

  it('in the console: the new secret is shown once, the old one is dead at once, grants stay', async () => {
    const old = linked.consumer.secret;
    expect((await callWith(old)).status).toBe(200);
    const fresh = await regenerateInConsole();
    expect(fresh).not.toBe(old);

    // The old secret: refused on the very next request, for API calls and token steps.
    const refused = await callWith(old);
    expect(refused.status).toBe(401);
    expect(refused.params.oauth_problem).toBe('signature_invalid');
    expect((await requestTokenWith(old)).params.oauth_problem).toBe('signature_invalid');
    // The new one works with alice's existing token: her authorization is untouched.
    const ok = await callWith(fresh);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ username: 'alice' });
    expect((await requestTokenWith(fresh)).status).toBe(200);
    expect(await server.services.grants.list({ consumerKey: 'jira' })).toHaveLength(1);

    // Never shown again: not on the consumer's page.
    const page = await (await browse(admin, `${server.url}/admin/consumers/${consumerId}`)).text();
    expect(page).not.toContain(fresh);
    expect(page).toContain('id="regenerate-secret"');

    // Audited with the admin as actor, and no secret in the log.
    const [entry] = await server.services.audits.list({ event: 'consumer.secret_regenerated' });
    expect(entry).toMatchObject({ actor: 'root', consumerKey: 'jira', event: 'consumer.secret_regenerated' });
    expect(JSON.parse(must(entry?.detail, 'the detail of the audit entry'))).toEqual({ by: 'admin', replaced: true });
    const log = JSON.stringify(await server.services.audits.list({ limit: 1000 }));
    expect(log).not.toContain(fresh);
    expect(log).not.toContain(old);
    linked.consumer.secret = fresh;
  });

  it('in the console: needs the CSRF token and an administrator; unknown ids are 404', async () => {
    const before = linked.consumer.secret;
    const noToken = await browse(admin, `${server.url}/admin/consumers/${consumerId}/regenerate-secret`, form({}));
    expect(noToken.status).toBe(403);
    const alice = new CookieJar();
    expect((await signIn(server.url, alice, 'alice')).status).toBe(302);
    const own = await (await browse(alice, `${server.url}/profile/authorized-apps`)).text();
    const notAdmin = await browse(
      alice,
      `${server.url}/admin/consumers/${consumerId}/regenerate-secret`,
      form({ _csrf: csrfOf(own) }),
    );
    expect(notAdmin.status).toBe(403);
    expect((await callWith(before)).status).toBe(200);

    const html = await (await browse(admin, `${server.url}/admin/consumers/${consumerId}`)).text();
    for (const id of ['999999', '0', 'abc', '1e3']) {
      const get = await browse(admin, `${server.url}/admin/consumers/${id}/regenerate-secret`);
      expect(get.status, id).toBe(404);
      const post = await browse(
        admin,
        `${server.url}/admin/consumers/${id}/regenerate-secret`,
        form({ _csrf: csrfOf(html) }),
      );
      expect(post.status, id).toBe(404);
    }
    expect(await server.services.audits.list({ event: 'consumer.secret_regenerated' })).toHaveLength(1);
  });

  it('through the real CLI against the running server: printed once, old secret dead, audited', async () => {
    const env = {
      APPLINK_DATABASE_URL: must(server.env.APPLINK_DATABASE_URL, 'the database URL'),
      APPLINK_SECRET_KEY: must(server.env.APPLINK_SECRET_KEY, 'the master key'),
    };
    const old = linked.consumer.secret;
    const r = await runCli(['consumer', 'regenerate-secret', '--key', 'jira', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { consumerKey: string; consumerSecret: string };
    expect(out.consumerKey).toBe('jira');
    expect(out.consumerSecret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(out.consumerSecret).not.toBe(old);
    expect((await callWith(old)).params.oauth_problem).toBe('signature_invalid');
    expect((await callWith(out.consumerSecret)).status).toBe(200);
    const [entry] = await server.services.audits.list({ event: 'consumer.secret_regenerated' });
    expect(entry).toMatchObject({ actor: null, consumerKey: 'jira' });
    expect(JSON.parse(must(entry?.detail, 'the detail of the audit entry'))).toEqual({ by: 'cli', replaced: true });

    // Text output says it once and warns; an unknown key is one line on stderr, exit 1.
    const text = await runCli(['consumer', 'regenerate-secret', '--key', 'jira'], env);
    expect(text.code, text.stderr).toBe(0);
    const secret = capture(/^consumer secret: (\S+)$/m, text.stdout, 'the printed secret');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(text.stdout).toContain('The previous secret no longer works');
    expect((await callWith(out.consumerSecret)).params.oauth_problem).toBe('signature_invalid');
    expect((await callWith(secret)).status).toBe(200);
    linked.consumer.secret = secret;

    const unknown = await runCli(['consumer', 'regenerate-secret', '--key', 'nope', '--json'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('applink: no consumer nope\n');
    expect(unknown.stdout).toBe('');
  });

  it('writes the change and its audit entry in one transaction: no entry, no change', async () => {
    const knex = server.services.db.knex;
    const before = (await knex('consumers').where({ id: consumerId }).first()) as { secret_enc: string };
    const count = (await server.services.audits.list({ event: 'consumer.secret_regenerated' })).length;
    // The audit insert of this event fails (a trigger): the new secret must not stay.
    if (database === 'pg') {
      await knex.raw(`CREATE FUNCTION refuse_audit() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'audit refused'; END; $$ LANGUAGE plpgsql`);
      await knex.raw(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW
        WHEN (NEW.event = 'consumer.secret_regenerated') EXECUTE FUNCTION refuse_audit()`);
    } else {
      await knex.raw(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events
        WHEN NEW.event = 'consumer.secret_regenerated' BEGIN SELECT RAISE(ABORT, 'audit refused'); END`);
    }
    try {
      await expect(server.services.consumers.regenerateSecret(OPERATOR, { id: consumerId })).rejects.toThrow(
        /audit refused/,
      );
    } finally {
      await knex.raw('DROP TRIGGER refuse_audit' + (database === 'pg' ? ' ON audit_events' : ''));
      if (database === 'pg') await knex.raw('DROP FUNCTION refuse_audit()');
    }
    const after = (await knex('consumers').where({ id: consumerId }).first()) as { secret_enc: string };
    expect(after.secret_enc).toBe(before.secret_enc);
    expect(await server.services.audits.list({ event: 'consumer.secret_regenerated' })).toHaveLength(count);
    expect((await callWith(linked.consumer.secret)).status).toBe(200);
  });

  it('gives an RSA-only consumer its first shared secret (audited as not replacing one)', async () => {
    const { rsaKeys } = await import('../helpers/server');
    const rsa = await server.services.consumers.create(OPERATOR, {
      key: 'rsa-only',
      name: 'RSA only',
      publicKeyPem: rsaKeys.publicKey,
      withSecret: false,
    });
    const page = await (await browse(admin, `${server.url}/admin/consumers/${rsa.consumer.id}`)).text();
    expect(page).toContain('none (RSA only)');
    expect(page).toContain('id="atl-no-secret"');
    const confirm = await (
      await browse(admin, `${server.url}/admin/consumers/${rsa.consumer.id}/regenerate-secret`)
    ).text();
    expect(confirm).toContain('Generate a secret');
    const res = await browse(
      admin,
      `${server.url}/admin/consumers/${rsa.consumer.id}/regenerate-secret`,
      form({ _csrf: csrfOf(confirm) }),
    );
    expect(res.status).toBe(200);
    const secret = capture(
      /id="consumer-secret" class="copy" readonly value="([^"]+)"/,
      await res.text(),
      'the new secret on the page',
    );
    const rt = await signedFetch(`${server.url}/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'rsa-only',
      consumerSecret: secret,
      oauth: { oauth_callback: 'oob' },
    });
    expect(rt.status, rt.body).toBe(200);
    const entries = await server.services.audits.list({
      event: 'consumer.secret_regenerated',
      consumerKey: 'rsa-only',
    });
    expect(JSON.parse(must(entries[0]?.detail, 'the detail of the audit entry'))).toEqual({
      by: 'admin',
      replaced: false,
    });
    expect((await server.services.consumers.findByKey('rsa-only'))?.hasPublicKey).toBe(true);
  });
});
