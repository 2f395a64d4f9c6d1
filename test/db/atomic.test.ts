// The single-use steps are atomic in the database itself, not by reading then writing:
// fired concurrently, through separate connection pools on PostgreSQL (as separate nodes
// would), exactly one wins. On SQLite (one node) concurrency comes from one pool.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db';
import { SqlProtocolStore } from '../../src/db/protocol-store';
import { servicesOn } from '../helpers/services';
import { OPERATOR } from '../../src/services/actor';
import { SecretBox } from '../../src/secret-box';
import { MAX_VERIFIER_FAILURES } from '../../src/oauth1/ports';
import { freshDatabase, rowCount, type FreshDatabase } from '../helpers/db';
import { testDatabases } from '../helpers/server';
import { must } from '../helpers/must';

const box = new SecretBox(randomBytes(32));
const NODES = 6;

describe.each(await testDatabases())('atomic single-use steps on %s', (kind) => {
  let fresh: FreshDatabase;
  /** the node every check reads through, and its store */
  let first: Database;
  let firstStore: SqlProtocolStore;
  let nodes: Database[];
  let stores: SqlProtocolStore[];
  let consumerId: number;
  let userId: number;
  const now = Date.now();

  beforeEach(async () => {
    fresh = await freshDatabase(kind);
    first = fresh.open();
    await first.migrate();
    nodes = kind === 'pg' ? [first, ...Array.from({ length: NODES - 1 }, () => fresh.open())] : [first];
    firstStore = new SqlProtocolStore(first, box);
    stores = [firstStore, ...nodes.slice(1).map((n) => new SqlProtocolStore(n, box))];
    const [c] = await first
      .knex('consumers')
      .insert({ consumer_key: 'k', name: 'k', secret_enc: box.seal('s'), created_at: now })
      .returning<Array<{ id: number }>>('id');
    consumerId = must(c, 'the inserted consumer').id;
    userId = (await servicesOn(first).users.create(OPERATOR, { username: 'alice', email: 'a@example.com' })).id;
  });
  afterEach(() => fresh.cleanup());

  /** The same call from every node (round-robin) `times` times at once. */
  const race = <T>(times: number, fn: (s: SqlProtocolStore, i: number) => Promise<T>) =>
    Promise.all(Array.from({ length: times }, (_, i) => fn(must(stores[i % stores.length], 'a store'), i)));

  const approval = (tokenId: number) => ({ event: 'authorization.approved', actorUserId: userId, consumerId, tokenId });
  const denial = (tokenId: number) => ({ event: 'authorization.denied', actorUserId: userId, consumerId, tokenId });
  const issued = () => ({ event: 'access_token.issued', actorUserId: userId, consumerId });
  /** audit entries of these events (for the token, when given) */
  const audits = async (events: string[], tokenId?: number) => {
    const q = first.knex('audit_events').whereIn('event', events);
    if (tokenId !== undefined) q.where({ token_id: tokenId });
    return Number(((await q.count({ n: '*' }).first()) as { n: string | number }).n);
  };

  const requestToken = (approved: boolean) =>
    firstStore
      .createRequestToken(
        {
          tokenHash: randomBytes(32).toString('hex'),
          consumerId,
          secret: 's',
          callback: 'oob',
          createdAt: now,
          expiresAt: now + 600_000,
        },
        { event: 'request_token.issued', consumerId },
      )
      .then(async (id) => {
        if (approved)
          expect(await firstStore.approveRequestToken(id, userId, 'v'.repeat(64), now, approval(id))).toBe(true);
        return id;
      });

  it('a nonce is claimed once', async () => {
    const claim = { consumerId, tokenRef: 'a1', timestamp: Math.floor(now / 1000), nonce: 'n-1' };
    const results = await race(12, (s) => s.claimNonce(claim, null));
    expect(results.filter(Boolean)).toHaveLength(1);
    // the same nonce with another token, or another timestamp, is a different claim
    expect(await firstStore.claimNonce({ ...claim, tokenRef: 'a2' }, null)).toBe(true);
    expect(await firstStore.claimNonce({ ...claim, timestamp: claim.timestamp + 1 }, null)).toBe(true);
  });

  it('a request token is decided once', async () => {
    const id = await requestToken(false);
    const results = await race(8, (s, i) =>
      i % 2
        ? s.approveRequestToken(id, userId, 'v'.repeat(64), now, approval(id))
        : s.denyRequestToken(id, userId, now, denial(id)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    // the winner's audit entry only, written with its change
    expect(await audits(['authorization.approved', 'authorization.denied'], id)).toBe(1);
  });

  it('a verified request token is exchanged once: exactly one access token', async () => {
    const id = await requestToken(true);
    const results = await race(10, (s) =>
      s.exchangeRequestToken(
        {
          requestTokenId: id,
          consumerId,
          userId,
          accessTokenHash: randomBytes(32).toString('hex'),
          accessSecret: 's',
          createdAt: now,
          expiresAt: null,
          sessionHandleHash: randomBytes(32).toString('hex'),
          authorizationExpiresAt: null,
        },
        issued(),
      ),
    );
    expect(results.filter((r) => 'id' in r)).toHaveLength(1);
    expect(results.filter((r) => 'refused' in r && r.refused === 'raced')).toHaveLength(9);
    expect(await audits(['access_token.issued'])).toBe(1);
    expect(await rowCount(first, 'access_tokens')).toBe(1);
  });

  it('wrong verifiers are all counted, and the token dies at the limit even under a race', async () => {
    const id = await requestToken(true);
    const counts = await race(7, (s) =>
      s.recordVerifierFailure(id, { event: 'verifier.rejected', consumerId, tokenId: id }),
    );
    expect(counts.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // each count with its audit entry, written in the same transaction
    expect(await audits(['verifier.rejected'], id)).toBe(7);
    const exchanged = await firstStore.exchangeRequestToken(
      {
        requestTokenId: id,
        consumerId,
        userId,
        accessTokenHash: 'f'.repeat(64),
        accessSecret: 's',
        createdAt: now,
        expiresAt: null,
        sessionHandleHash: randomBytes(32).toString('hex'),
        authorizationExpiresAt: null,
      },
      issued(),
    );
    expect(exchanged).toEqual({ refused: 'raced' }); // 7 >= MAX_VERIFIER_FAILURES: dead although the verifier was set
    expect(MAX_VERIFIER_FAILURES).toBeLessThan(7);
  });

  it('a grant is revoked once, and the revocation is what every node reads next', async () => {
    const rt = await requestToken(true);
    const hash = 'a'.repeat(64);
    const at = await firstStore.exchangeRequestToken(
      {
        requestTokenId: rt,
        consumerId,
        userId,
        accessTokenHash: hash,
        accessSecret: 's',
        createdAt: now,
        expiresAt: null,
        sessionHandleHash: randomBytes(32).toString('hex'),
        authorizationExpiresAt: null,
      },
      issued(),
    );
    const atId = (at as { id: number }).id;
    const grants = nodes.map((n) => servicesOn(n).grants);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => must(grants[i % grants.length], 'a node').revoke(OPERATOR, { id: atId })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await audits(['access_token.revoked'], atId)).toBe(1);
    for (const s of stores) {
      const found = await s.findCredentials('k', hash, 'access');
      expect(found.token?.revokedAt).not.toBeNull();
    }
  });
});
