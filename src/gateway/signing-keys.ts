/**
 * The gateway's ES256 signing keys: generated on first need, the private half sealed with
 * the master key in `gateway_keys`, rotated by `applink gateway rotate-key`.
 *
 * A rotation inserts a key that is published at once but signs only from `activates_at`
 * (by default two minutes later), so every upstream can fetch it before it sees it; the key
 * it replaces stays published for RETIRED_KEY_PUBLISHED_MS after that, longer than any
 * assertion it signed can live. Each node re-reads the table every KEY_REFRESH_MS; the
 * cached copy only chooses which published key signs, so it can never let a request through.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { Knex } from 'knex';
import { calculateJwkThumbprint, importPKCS8, type CryptoKey, type JWK } from 'jose';
import type { SecretBox } from '../secret-box';
import type { Clock } from '../oauth1/ports';

/** lifetime of an Applink-Jwt-Assertion, seconds */
export const ASSERTION_LIFETIME_S = 60;
/** how often a node re-reads the key table */
export const KEY_REFRESH_MS = 30_000;
/** how long a superseded key stays in the key set: refresh + lifetime + clock skew, with room */
export const RETIRED_KEY_PUBLISHED_MS = 5 * 60_000;
/** default delay between publishing a rotated key and signing with it (JWKS caches catch up) */
export const DEFAULT_ACTIVATION_DELAY_MS = 2 * 60_000;

interface KeyRow {
  id: number;
  kid: string;
  private_key_enc: string;
  public_jwk: string;
  created_at: number;
  activates_at: number;
}

export type KeyState = 'next' | 'signing' | 'retired';

export interface GatewayKeyInfo {
  kid: string;
  createdAt: number;
  activatesAt: number;
  /** when a newer key took over, or null */
  supersededAt: number | null;
  state: KeyState;
}

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

export class GatewayKeys {
  private cached: { rows: KeyRow[]; at: number } | null = null;
  private loading: Promise<KeyRow[]> | null = null;
  private creating: Promise<KeyRow[]> | null = null;
  private readonly imported = new Map<string, Promise<CryptoKey>>();
  /** the imported keys ready to sign, by kid (what signingKeyNow answers from) */
  private readonly ready = new Map<string, SigningKey>();

  constructor(
    private readonly knex: Knex,
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  /** The key that signs now; the first key is generated here on first need. */
  async signingKey(): Promise<SigningKey> {
    const now = this.clock.now();
    let rows = await this.rows(now, false);
    if (rows.length === 0) rows = await this.ensureOne(now);
    const row = currentOf(rows, now);
    if (!row) throw new Error('no gateway signing key after creating one');
    let key = this.imported.get(row.kid);
    if (!key) {
      key = importPKCS8(this.box.open(row.private_key_enc), 'ES256');
      this.imported.set(row.kid, key);
      key.catch(() => this.imported.delete(row.kid));
    }
    const signing = { kid: row.kid, key: await key };
    if (this.imported.has(row.kid)) this.ready.set(row.kid, signing);
    return signing;
  }

  /**
   * The key that signs now, without a promise, when the cached key list is fresh and that
   * key is already imported; else null (then signingKey()). The same choice signingKey()
   * makes from the same cached list: the gateway's calls make no key lookup of their own.
   */
  signingKeyNow(): SigningKey | null {
    const now = this.clock.now();
    const cached = this.cached;
    if (!cached || cached.rows.length === 0 || now - cached.at >= KEY_REFRESH_MS) return null;
    const row = currentOf(cached.rows, now);
    return row ? (this.ready.get(row.kid) ?? null) : null;
  }

  /** The published key set, read fresh (nodes share it through the database). */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.clock.now();
    let rows = await this.rows(now, true);
    if (rows.length === 0) rows = await this.ensureOne(now);
    const publicJwk = new Map(rows.map((r) => [r.kid, r.public_jwk]));
    const keys = describe(rows, now)
      .filter((k) => !publicationEnded(k, now))
      .sort((a, b) => b.activatesAt - a.activatesAt)
      .flatMap((k) => {
        const jwk = publicJwk.get(k.kid);
        return jwk === undefined ? [] : [JSON.parse(jwk) as JWK];
      });
    return { keys };
  }

  /**
   * Adds a key that signs from now + activateInMs, and deletes keys whose publication
   * ended. Returns the new key.
   */
  async rotate(activateInMs: number = DEFAULT_ACTIVATION_DELAY_MS): Promise<GatewayKeyInfo> {
    const now = this.clock.now();
    const kid = await this.insertKey(now, now + Math.max(0, activateInMs));
    const rows = await this.rows(now, true);
    const expired = describe(rows, now).filter((k) => publicationEnded(k, now));
    if (expired.length > 0) {
      await this.knex('gateway_keys')
        .whereIn(
          'kid',
          expired.map((k) => k.kid),
        )
        .delete();
      for (const k of expired) {
        this.imported.delete(k.kid);
        this.ready.delete(k.kid);
      }
      this.cached = null;
    }
    const added = (await this.list()).find((k) => k.kid === kid);
    if (!added) throw new Error(`gateway key ${kid} was not found after it was added`);
    return added;
  }

  async list(): Promise<GatewayKeyInfo[]> {
    const now = this.clock.now();
    return describe(await this.rows(now, true), now);
  }

  /** Forgets the cached key list; the next call reads the table again. */
  refresh(): void {
    this.cached = null;
  }

  private async rows(now: number, fresh: boolean): Promise<KeyRow[]> {
    if (fresh) return this.load();
    if (this.cached && now - this.cached.at < KEY_REFRESH_MS) return this.cached.rows;
    // One read at a time when the cache expires, however many calls are waiting.
    return (this.loading ??= this.load().finally(() => {
      this.loading = null;
    }));
  }

  private async load(): Promise<KeyRow[]> {
    const rows = (await this.knex('gateway_keys')
      .select('id', 'kid', 'private_key_enc', 'public_jwk', 'created_at', 'activates_at')
      .orderBy([
        { column: 'activates_at', order: 'asc' },
        { column: 'id', order: 'asc' },
      ])) as KeyRow[];
    this.cached = { rows, at: this.clock.now() };
    return rows;
  }

  private ensureOne(now: number): Promise<KeyRow[]> {
    // One generation per process however many calls arrive at once. Two nodes may still
    // both generate one: both keys are then published and the newer one signs.
    return (this.creating ??= (async () => {
      const rows = await this.rows(now, true);
      if (rows.length > 0) return rows;
      await this.insertKey(now, now);
      return this.rows(now, true);
    })().finally(() => {
      this.creating = null;
    }));
  }

  private async insertKey(now: number, activatesAt: number): Promise<string> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const published: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' };
    await this.knex('gateway_keys').insert({
      kid,
      private_key_enc: this.box.seal(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
      public_jwk: JSON.stringify(published),
      created_at: now,
      activates_at: activatesAt,
    });
    this.cached = null;
    return kid;
  }
}

/** A retired key stays published for RETIRED_KEY_PUBLISHED_MS after a newer one took over. */
const publicationEnded = (k: GatewayKeyInfo, now: number): boolean =>
  k.state === 'retired' && k.supersededAt !== null && now >= k.supersededAt + RETIRED_KEY_PUBLISHED_MS;

/** rows are in (activates_at, id) order: the last one that has activated signs (the first before any has). */
function currentOf(rows: readonly KeyRow[], now: number): KeyRow | undefined {
  let current = rows[0];
  for (const r of rows) if (r.activates_at <= now) current = r;
  return current;
}

function describe(rows: readonly KeyRow[], now: number): GatewayKeyInfo[] {
  const signing = currentOf(rows, now);
  return rows.map((r, i) => {
    const next = rows[i + 1];
    const supersededAt = next && next.activates_at <= now ? next.activates_at : null;
    const state: KeyState = r === signing ? 'signing' : r.activates_at > now ? 'next' : 'retired';
    return { kid: r.kid, createdAt: r.created_at, activatesAt: r.activates_at, supersededAt, state };
  });
}
