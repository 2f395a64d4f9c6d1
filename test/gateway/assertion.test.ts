// Per-call cost of the gateway's identity: the signing key is taken from the key list the
// node already holds (no lookup per call), and one assertion is reused for the same grant
// and route for a few seconds, only while every claim it carries is still what the call's
// verification found.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes, webcrypto } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, exportJWK, jwtVerify, type CryptoKey as JoseKey } from 'jose';
import { openDatabase, type Database } from '../../src/db';
import { SecretBox } from '../../src/secret-box';
import { GatewayKeys, KEY_REFRESH_MS, type SigningKey } from '../../src/gateway/signing-keys';
import { ASSERTION_REUSE_MS, Assertions, type AssertionSubject } from '../../src/gateway/assertion';
import type { UserRecord } from '../../src/oauth1/ports';
import { must } from '../helpers/must';

const alice: UserRecord = {
  id: 7,
  username: 'alice',
  email: 'alice@example.com',
  displayName: 'Alice',
  disabled: false,
  isAdmin: false,
};

const subject = (over: Partial<AssertionSubject> = {}): AssertionSubject => ({
  issuer: 'https://applink.example.com',
  audience: 'https://applink.example.com/tracker',
  user: alice,
  consumerKey: 'wiki',
  grantId: 12,
  ...over,
});

async function newKey(kid: string): Promise<{ key: SigningKey; publicKey: webcrypto.CryptoKey }> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  return { key: { kid, key: pair.privateKey }, publicKey: pair.publicKey };
}

describe('assertion reuse', () => {
  it('reuses one assertion per grant and route for a few seconds, then signs a new one', async () => {
    const { key, publicKey } = await newKey('k1');
    const a = new Assertions();
    const t = 1_900_000_000_000;
    const first = a.assertionFor(key, subject(), t);
    expect(a.assertionFor(key, subject(), t + ASSERTION_REUSE_MS - 1)).toBe(first);
    const later = a.assertionFor(key, subject(), t + ASSERTION_REUSE_MS);
    expect(later).not.toBe(first);
    expect(decodeJwt(later).jti).not.toBe(decodeJwt(first).jti);
    expect(decodeJwt(later).iat).toBe(Math.floor((t + ASSERTION_REUSE_MS) / 1000));
    // a valid ES256 JWT with the claims of that call, with 56 s or more left when sent
    const { payload } = await jwtVerify(first, (await exportJWK(publicKey)) as unknown as JoseKey, {
      currentDate: new Date(t + ASSERTION_REUSE_MS - 1),
    });
    expect(payload).toMatchObject({ sub: 'alice', grant_id: 12, consumer_key: 'wiki' });
    expect(must(payload.exp, 'the exp claim') * 1000 - (t + ASSERTION_REUSE_MS)).toBeGreaterThanOrEqual(55_000);
  });

  it('never reuses across grants, routes, keys, or once a claim has changed', async () => {
    const { key } = await newKey('k1');
    const { key: other } = await newKey('k2');
    const a = new Assertions();
    const t = 1_900_000_000_000;
    const first = a.assertionFor(key, subject(), t);
    const variants: Array<[SigningKey, AssertionSubject]> = [
      [key, subject({ grantId: 13 })],
      [key, subject({ audience: 'https://applink.example.com/wiki' })],
      [key, subject({ issuer: 'https://other.example.com' })],
      [key, subject({ consumerKey: 'jira' })],
      [key, subject({ user: { ...alice, email: 'new@example.com' } })],
      [key, subject({ user: { ...alice, displayName: 'Alice B' } })],
      [key, subject({ user: { ...alice, username: 'alice2' } })],
      [other, subject()],
    ];
    for (const [k, s] of variants) {
      const got = a.assertionFor(k, s, t + 1);
      expect(got).not.toBe(first);
      expect(decodeProtectedHeader(got).kid).toBe(k.kid);
    }
    // a clock that went back never reuses either
    const b = new Assertions();
    const x = b.assertionFor(key, subject(), t);
    expect(b.assertionFor(key, subject(), t - 1)).not.toBe(x);
  });

  it('remembers a bounded number of grants', async () => {
    const { key } = await newKey('k1');
    const a = new Assertions(ASSERTION_REUSE_MS, 100);
    const t = 1_900_000_000_000;
    for (let i = 0; i < 1000; i++) a.assertionFor(key, subject({ grantId: i }), t + i);
    expect(a.size).toBeLessThanOrEqual(100);
    // the most recent ones are still reused
    const recent = a.assertionFor(key, subject({ grantId: 999 }), t + 1000);
    expect(a.assertionFor(key, subject({ grantId: 999 }), t + 1001)).toBe(recent);
  });
});

describe('the signing key without a lookup per call', () => {
  let db: Database;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'applink-assertion-'));
    db = openDatabase({ client: 'sqlite', filename: join(dir, 'k.sqlite') });
    await db.migrate();
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers from the key list the node holds, and only while that list is fresh', async () => {
    let t = Date.UTC(2030, 0, 1);
    const keys = new GatewayKeys(db.knex, new SecretBox(randomBytes(32)), { now: () => t });
    expect(keys.signingKeyNow()).toBeNull(); // nothing read yet
    const k = await keys.signingKey();
    expect(keys.signingKeyNow()).toBe(k);
    // a rotation that has activated is seen once the list is re-read, as signingKey() sees it
    const next = await keys.rotate(1000);
    t += 1000;
    expect(keys.signingKeyNow()).toBeNull(); // the rotation re-read the list; the new key is not imported yet
    expect((await keys.signingKey()).kid).toBe(next.kid);
    expect(keys.signingKeyNow()?.kid).toBe(next.kid);
    // the list is re-read every KEY_REFRESH_MS: until then, no answer without a lookup
    t += KEY_REFRESH_MS;
    expect(keys.signingKeyNow()).toBeNull();
    expect((await keys.signingKey()).kid).toBe(next.kid);
    expect(keys.signingKeyNow()?.kid).toBe(next.kid);
    keys.refresh();
    expect(keys.signingKeyNow()).toBeNull();
  });
});
