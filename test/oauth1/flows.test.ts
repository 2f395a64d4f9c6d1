// The protocol flows tested directly over the in-memory store: no HTTP, no database.
// Request token -> decision -> exchange -> API call -> renewal, and at every step the
// user's and the consumer's current state; a wrong verifier's count with its audit entry.
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../helpers/memory-store';
import { must } from '../helpers/must';
import { buildSignedRequest, type SignOptions } from '../helpers/sign';
import { issueRequestToken } from '../../src/oauth1/flows/request-token';
import { decideAuthorization, findPendingAuthorization } from '../../src/oauth1/flows/authorize';
import { accessTokenEndpoint, type AccessTokenDeps } from '../../src/oauth1/flows/access-token';
import { authenticateApiCall } from '../../src/oauth1/flows/api-call';
import { OAuthProblem } from '../../src/oauth1/problems';
import { MAX_VERIFIER_FAILURES, type ConsumerRecord, type UserRecord } from '../../src/oauth1/ports';
import type { RequestParts } from '../../src/oauth1/params';

const ORIGIN = 'https://links.example.com';
let now = Date.UTC(2026, 0, 1);
let store: MemoryStore;
let consumer: ConsumerRecord;
let alice: UserRecord;
let deps: AccessTokenDeps & { requestTokenTtl: number };

beforeEach(() => {
  store = new MemoryStore();
  consumer = store.addConsumer('jira', { secret: 'consumer-secret' });
  alice = store.addUser('alice');
  now += 3_600_000;
  deps = {
    store,
    clock: { now: () => now },
    options: { timestampWindow: 300, lastUsedThrottle: 60_000 },
    requestTokenTtl: 600,
    accessTokenTtl: 3600,
    authorizationTtl: 7200,
  };
});

function parts(path: string, o: Omit<SignOptions, 'consumerKey' | 'consumerSecret'>): RequestParts {
  const r = buildSignedRequest(`${ORIGIN}${path}`, {
    consumerKey: 'jira',
    consumerSecret: 'consumer-secret',
    method: 'POST',
    ...o,
    oauth: { oauth_timestamp: String(Math.floor(now / 1000)), ...o.oauth },
  });
  const headers = r.init.headers as Record<string, string>;
  const url = new URL(r.url);
  return {
    method: must(r.init.method, 'the signed method'),
    origin: ORIGIN,
    target: url.pathname + url.search,
    authorization: headers.authorization,
    contentType: headers['content-type'],
    body: r.init.body === undefined ? undefined : Buffer.from(r.init.body as string),
  };
}

async function problemOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OAuthProblem) return e.code;
    throw e;
  }
  return 'ok';
}

const requestToken = () =>
  issueRequestToken(parts('/oauth/request-token', { oauth: { oauth_callback: 'oob' } }), '', deps);
const exchange = (rt: { token: string; secret: string }, verifier: string | null) =>
  accessTokenEndpoint(
    parts('/oauth/access-token', {
      token: rt.token,
      tokenSecret: rt.secret,
      oauth: verifier === null ? {} : { oauth_verifier: verifier },
    }),
    '',
    deps,
  );
const call = (at: { token: string; secret: string }) =>
  authenticateApiCall(
    parts('/rest/api/1/myself', { method: 'GET', token: at.token, tokenSecret: at.secret }),
    '',
    deps,
  );
const renew = (at: { token: string; secret: string }, handle: string) =>
  accessTokenEndpoint(
    parts('/oauth/access-token', { token: at.token, tokenSecret: at.secret, oauth: { oauth_session_handle: handle } }),
    '',
    deps,
  );

async function approved() {
  const rt = await requestToken();
  const d = await decideAuthorization(rt.token, alice, true, '', deps);
  if (d.kind !== 'allow') throw new Error('not allowed');
  return { ...rt, verifier: d.verifier };
}

describe('flows over the in-memory store', () => {
  it('the whole dance, with the session fields and a renewal', async () => {
    const rt = await approved();
    const at = await exchange(rt, rt.verifier);
    expect(at).toMatchObject({ renewed: false, expiresAt: now + 3_600_000, authorizationExpiresAt: now + 7_200_000 });
    expect((await call(at)).token.user.username).toBe('alice');
    now += 60_000;
    const next = await renew(at, at.sessionHandle);
    expect(next).toMatchObject({ renewed: true, id: at.id, sessionHandle: at.sessionHandle });
    expect(next.expiresAt).toBe(now + 3_600_000);
    expect(await problemOf(call(at))).toBe('token_rejected');
    expect((await call(next)).token.id).toBe(at.id);
    expect(store.audits.map((a) => a.event)).toEqual([
      'request_token.issued',
      'authorization.approved',
      'access_token.issued',
      'access_token.renewed',
    ]);
  });

  it('permission_unknown before the decision, not counted; verifier_invalid after it, counted with its audit', async () => {
    const rt = await requestToken();
    for (let i = 0; i < MAX_VERIFIER_FAILURES + 2; i++)
      expect(await problemOf(exchange(rt, 'x'))).toBe('permission_unknown');
    expect(await problemOf(exchange(rt, null))).toBe('permission_unknown');
    const d = await decideAuthorization(rt.token, alice, true, '', deps);
    if (d.kind !== 'allow') throw new Error('not allowed');
    expect(await problemOf(exchange(rt, null))).toBe('parameter_absent');
    expect(await problemOf(exchange(rt, 'wrong'))).toBe('verifier_invalid');
    const rejected = store.audits.filter((a) => a.event === 'verifier.rejected');
    expect(rejected).toHaveLength(1);
    expect(must(rejected[0], 'the verifier.rejected entry').detail).toEqual({ failures: 1, killed: false });
    expect(await problemOf(exchange(rt, 'wrong'))).toBe('verifier_invalid');
    expect(await problemOf(exchange(rt, 'wrong'))).toBe('verifier_invalid');
    expect(must(store.audits.at(-1), 'the last audit entry').detail).toEqual({ failures: 3, killed: true });
    expect(await problemOf(exchange(rt, d.verifier))).toBe('token_rejected');
  });

  describe("the user's and the consumer's current state at every step", () => {
    it('request token for a disabled consumer: consumer_key_rejected, nothing created', async () => {
      consumer.disabled = true;
      expect(await problemOf(requestToken())).toBe('consumer_key_rejected');
      expect(store.requestTokens.size).toBe(0);
    });

    it('approve after the consumer was disabled: consumer_key_rejected, nothing decided', async () => {
      const rt = await requestToken();
      consumer.disabled = true;
      expect(await problemOf(decideAuthorization(rt.token, alice, true, '', deps))).toBe('consumer_key_rejected');
      expect(await problemOf(findPendingAuthorization(rt.token, deps))).toBe('consumer_key_rejected');
      expect(must([...store.requestTokens.values()][0], 'the request token').record.userId).toBeNull();
    });

    it('a disabled user cannot decide', async () => {
      const rt = await requestToken();
      alice.disabled = true;
      expect(await problemOf(decideAuthorization(rt.token, alice, true, '', deps))).toBe('permission_denied');
      // the page showed her as enabled, and she was disabled before the decision was written
      const stale = { ...alice, disabled: false };
      expect(await problemOf(decideAuthorization(rt.token, stale, true, '', deps))).toBe('permission_denied');
      expect(must([...store.requestTokens.values()][0], 'the request token').record.userId).toBeNull();
    });

    it('approve, user disabled, exchange: permission_denied, nothing created, and the approval is void', async () => {
      const rt = await approved();
      alice.disabled = true;
      expect(await problemOf(exchange(rt, rt.verifier))).toBe('permission_denied');
      expect(store.grants.size).toBe(0);
      // re-enabling the user does not bring the approval back
      alice.disabled = false;
      expect(await problemOf(exchange(rt, rt.verifier))).toBe('permission_denied');
      expect(store.grants.size).toBe(0);
      expect(store.audits.filter((a) => a.event === 'access_token.issued')).toHaveLength(0);
    });

    it('approve, consumer disabled, exchange: consumer_key_rejected, nothing created', async () => {
      const rt = await approved();
      consumer.disabled = true;
      expect(await problemOf(exchange(rt, rt.verifier))).toBe('consumer_key_rejected');
      expect(store.grants.size).toBe(0);
    });

    it('API call and renewal: a disabled user permission_denied, a disabled consumer consumer_key_rejected', async () => {
      const rt = await approved();
      const at = await exchange(rt, rt.verifier);
      alice.disabled = true;
      expect(await problemOf(call(at))).toBe('permission_denied');
      expect(await problemOf(renew(at, at.sessionHandle))).toBe('permission_denied');
      alice.disabled = false;
      consumer.disabled = true;
      expect(await problemOf(call(at))).toBe('consumer_key_rejected');
      expect(await problemOf(renew(at, at.sessionHandle))).toBe('consumer_key_rejected');
      consumer.disabled = false;
      expect((await call(at)).token.id).toBe(at.id);
      expect(store.audits.filter((a) => a.event === 'access_token.renewed')).toHaveLength(0);
    });

    it('renewal refusals: wrong handle, revoked, expired authorization; an expired token renews', async () => {
      const rt = await approved();
      const at = await exchange(rt, rt.verifier);
      expect(await problemOf(renew(at, 'nope'))).toBe('token_rejected');
      now += 3_600_000; // the token expired
      expect(await problemOf(call(at))).toBe('token_expired');
      const next = await renew(at, at.sessionHandle);
      // capped at the authorization's end (issued + 7200 s)
      expect(next.expiresAt).toBe(next.authorizationExpiresAt);
      now += 3_600_000; // the authorization ended too
      expect(await problemOf(renew(next, at.sessionHandle))).toBe('token_expired');
      must(store.grants.get(at.id), 'the grant').revokedAt = now;
      expect(await problemOf(renew(next, at.sessionHandle))).toBe('token_revoked');
    });
  });
});
