// The gateway's signing keys on both databases: generated on first need, sealed at rest,
// rotated with pre-publication, old keys published until their assertions have expired,
// several nodes sharing one table. A settable clock stands in for the minutes that pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { openDatabase, type Database } from '../../src/db';
import { SecretBox } from '../../src/secret-box';
import {
  ASSERTION_LIFETIME_S,
  DEFAULT_ACTIVATION_DELAY_MS,
  GatewayKeys,
  KEY_REFRESH_MS,
  RETIRED_KEY_PUBLISHED_MS,
} from '../../src/gateway/signing-keys';
import { signAssertion } from '../../src/gateway/assertion';
import { createTempPgDatabase, pgAvailable } from '../helpers/pg';
import { must } from '../helpers/must';
import type { UserRecord } from '../../src/oauth1/ports';

const user: UserRecord = {
  id: 7,
  username: 'alice',
  email: 'alice@example.com',
  displayName: 'Alice',
  disabled: false,
  isAdmin: false,
};

const pg = await pgAvailable();

for (const dialect of ['sqlite', 'pg'] as const) {
  describe.skipIf(dialect === 'pg' && !pg)(`gateway keys on ${dialect}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    const box = new SecretBox(randomBytes(32));
    let t = Date.UTC(2030, 0, 1);
    const clock = { now: () => t };
    const node = () => new GatewayKeys(db.knex, box, clock);

    beforeAll(async () => {
      if (dialect === 'sqlite') {
        const dir = mkdtempSync(join(tmpdir(), 'applink-keys-'));
        db = openDatabase({ client: 'sqlite', filename: join(dir, 'k.sqlite') });
        cleanup = () => {
          rmSync(dir, { recursive: true, force: true });
          return Promise.resolve();
        };
      } else {
        const tmp = await createTempPgDatabase();
        db = openDatabase({ client: 'pg', connectionString: tmp.url });
        cleanup = () => tmp.drop();
      }
      await db.migrate();
    });
    afterAll(async () => {
      await db.rollbackAll();
      await db.close();
      await cleanup();
    });

    const kids = async (k: GatewayKeys) => (await k.jwks()).keys.map((j) => j.kid);
    const verify = async (k: GatewayKeys, jwt: string) =>
      jwtVerify(jwt, createLocalJWKSet(await k.jwks()), {
        issuer: 'https://a.example',
        audience: 'https://a.example/t',
        currentDate: new Date(t),
      });
    const assertion = async (k: GatewayKeys) =>
      signAssertion(
        await k.signingKey(),
        { issuer: 'https://a.example', audience: 'https://a.example/t', user, consumerKey: 'wiki', grantId: 3 },
        t,
      );

    it('many calls at once on one node meeting an empty table make one key', async () => {
      const a = node();
      const got = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a.signingKey() : a.jwks())));
      expect(await db.knex('gateway_keys').count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(new Set(got.map((g) => ('kid' in g ? g.kid : must(g.keys[0], 'a published key').kid))).size).toBe(1);
      await db.knex('gateway_keys').delete();
    });

    it('two nodes meeting an empty table both get a key; all of them are published, one signs', async () => {
      const a = node();
      const b = node();
      expect(await a.list()).toEqual([]);
      const [ka, kb] = await Promise.all([a.signingKey(), b.signingKey()]);
      const published = await kids(a);
      expect(published).toEqual(expect.arrayContaining([ka.kid, kb.kid]));
      // once both have re-read the table they agree on the newest
      t += KEY_REFRESH_MS;
      expect((await a.signingKey()).kid).toBe((await b.signingKey()).kid);
      // the assertion verifies with jose against the published set and says what it must
      const { payload, protectedHeader } = await verify(a, await assertion(a));
      expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT' });
      expect(payload).toMatchObject({
        iss: 'https://a.example',
        aud: 'https://a.example/t',
        sub: 'alice',
        email: 'alice@example.com',
        name: 'Alice',
        consumer_key: 'wiki',
        grant_id: 3,
      });
      expect(must(payload.exp, 'the exp claim') - must(payload.iat, 'the iat claim')).toBe(ASSERTION_LIFETIME_S);
    });

    it('the private key is sealed at rest; only public halves are published', async () => {
      await node().signingKey(); // at least one key, whatever the tests before left
      const rows = await db
        .knex<{ private_key_enc: string; public_jwk: string }>('gateway_keys')
        .select('private_key_enc', 'public_jwk');
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.private_key_enc).toMatch(/^v1\.[0-9a-f]{8}\./);
        expect(box.open(r.private_key_enc)).toContain('BEGIN PRIVATE KEY');
        expect((JSON.parse(r.public_jwk) as { d?: unknown }).d).toBeUndefined();
      }
      const published = (await node().jwks()).keys;
      expect(published.length).toBeGreaterThan(0);
      for (const k of published) expect(k.d).toBeUndefined();
    });

    it('rotation: published at once, signs from activation, the old key stays until its assertions are dead', async () => {
      const a = node();
      const b = node(); // another server sharing the table
      const old = await a.signingKey();
      expect((await b.signingKey()).kid).toBe(old.kid);

      const next = await a.rotate();
      expect(next.activatesAt - t).toBe(DEFAULT_ACTIVATION_DELAY_MS);
      expect(next.state).toBe('next');
      expect(await kids(b)).toEqual(expect.arrayContaining([old.kid, next.kid]));
      expect((await a.signingKey()).kid).toBe(old.kid);
      t = next.activatesAt - 1;
      const lastOfOld = await assertion(a);
      expect((await a.signingKey()).kid).toBe(old.kid);

      t = next.activatesAt;
      expect((await a.signingKey()).kid).toBe(next.kid);
      // b's cached copy is older than the refresh interval by now: it switches at the same moment
      expect((await b.signingKey()).kid).toBe(next.kid);
      await expect(verify(b, await assertion(b))).resolves.toBeTruthy();

      // the old key's last assertions (signed just before the switch) still verify
      t += ASSERTION_LIFETIME_S * 1000 - 2000;
      expect(await kids(a)).toContain(old.kid);
      await expect(verify(a, lastOfOld)).resolves.toBeTruthy();
      const states = Object.fromEntries((await a.list()).map((k) => [k.kid, k.state]));
      expect(states[old.kid]).toBe('retired');
      expect(states[next.kid]).toBe('signing');

      // and after the publication window it is gone from the set, then from the table
      t = next.activatesAt + RETIRED_KEY_PUBLISHED_MS;
      expect(await kids(a)).not.toContain(old.kid);
      const third = await a.rotate(0);
      expect(third.state).toBe('signing');
      expect((await a.list()).map((k) => k.kid)).not.toContain(old.kid);
      expect((await a.signingKey()).kid).toBe(third.kid);
    });

    it('an immediate rotation seen late by another node: its stale key is still published', async () => {
      const a = node();
      const b = node();
      const before = await b.signingKey();
      const fresh = await a.rotate(0);
      expect((await a.signingKey()).kid).toBe(fresh.kid);
      // b has not re-read the table yet and still signs with the key it knew
      expect((await b.signingKey()).kid).toBe(before.kid);
      await expect(verify(a, await assertion(b))).resolves.toBeTruthy();
      t += KEY_REFRESH_MS;
      expect((await b.signingKey()).kid).toBe(fresh.kid);
      expect(RETIRED_KEY_PUBLISHED_MS).toBeGreaterThan(KEY_REFRESH_MS + ASSERTION_LIFETIME_S * 1000);
    });
  });
}
