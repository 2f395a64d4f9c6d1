/**
 * The two statements every signed call runs, prepared once and executed without knex's
 * per-query SQL building: the credential lookup (consumer, token and user in one join)
 * and the nonce claim (with the throttled last_used update riding along).
 * SQLite runs them synchronously on knex's single connection; PostgreSQL as named
 * prepared statements, one round trip each.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Database } from './index';
import type { CredentialRow } from './protocol-store';
import type { NonceClaim, TokenKind, TokenTouch } from '../oauth1/ports';

export interface HotPath {
  lookup(consumerKey: string, tokenHash: string | null, kind: TokenKind | null): Promise<CredentialRow | undefined>;
  claimNonce(claim: NonceClaim, touch: TokenTouch | null): Promise<boolean>;
}

const CONSUMER_COLUMNS = `c.id AS c_id, c.consumer_key AS c_key, c.name AS c_name, c.description AS c_description,
  c.callback_url AS c_callback, c.secret_enc AS c_secret, c.public_key AS c_public_key, c.disabled_at AS c_disabled`;

const sql = (p: (i: number) => string) => ({
  consumer: `SELECT ${CONSUMER_COLUMNS}, NULL AS t_id FROM consumers c WHERE c.consumer_key = ${p(1)}`,
  access: `SELECT ${CONSUMER_COLUMNS},
      t.id AS t_id, t.secret_enc AS t_secret, t.expires_at AS t_expires, t.revoked_at AS t_revoked,
      t.last_used_at AS t_last_used,
      u.id AS u_id, u.username AS u_username, u.email AS u_email, u.display_name AS u_display_name,
      u.is_admin AS u_is_admin, u.disabled_at AS u_disabled
    FROM consumers c
    LEFT JOIN access_tokens t ON t.token_hash = ${p(2)} AND t.consumer_id = c.id
    LEFT JOIN users u ON u.id = t.user_id
    WHERE c.consumer_key = ${p(1)}`,
  request: `SELECT ${CONSUMER_COLUMNS},
      t.id AS t_id, t.secret_enc AS t_secret, t.expires_at AS t_expires, t.callback AS t_callback,
      t.user_id AS t_user_id, t.verifier_hash AS t_verifier_hash, t.verifier_failures AS t_verifier_failures,
      t.authorized_at AS t_authorized_at, t.denied_at AS t_denied_at, t.used_at AS t_used_at
    FROM consumers c
    LEFT JOIN request_tokens t ON t.token_hash = ${p(2)} AND t.consumer_id = c.id
    WHERE c.consumer_key = ${p(1)}`,
});

export function createHotPath(db: Database): HotPath {
  return db.dialect === 'sqlite' ? sqliteHotPath(db) : pgHotPath(db);
}

function sqliteHotPath(db: Database): HotPath {
  const text = sql(() => '?');
  let prepared:
    | {
        conn: BetterSqlite3.Database;
        consumer: BetterSqlite3.Statement;
        access: BetterSqlite3.Statement;
        request: BetterSqlite3.Statement;
        nonce: BetterSqlite3.Statement;
        touch: BetterSqlite3.Statement;
        used: BetterSqlite3.Statement;
      }
    | undefined;
  type Prepared = NonNullable<typeof prepared>;
  const statements = (): Prepared => {
    const conn = db.sqlite();
    if (prepared?.conn !== conn) {
      prepared = {
        conn,
        consumer: conn.prepare(text.consumer),
        access: conn.prepare(text.access),
        request: conn.prepare(text.request),
        nonce: conn.prepare(
          'INSERT INTO nonces (consumer_id, token_ref, timestamp, nonce) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        ),
        touch: conn.prepare(
          'UPDATE access_tokens SET last_used_at = ?, last_used_ip = ? WHERE id = ? RETURNING user_id, consumer_id',
        ),
        used: conn.prepare(
          "INSERT INTO audit_events (at, event, actor_user_id, consumer_id, token_id, ip) VALUES (?, 'token.used', ?, ?, ?, ?)",
        ),
      };
    }
    return prepared;
  };
  // A knex transaction holds the single connection across awaits; a statement run on it
  // meanwhile would join (and could be rolled back with) that transaction. Wait for it.
  const run = async <T>(fn: (s: Prepared) => T): Promise<T> => {
    const conn = db.sqlite();
    if (!conn.inTransaction) return fn(statements());
    const held = await (db.knex.client as { acquireConnection(): Promise<unknown> }).acquireConnection();
    try {
      return fn(statements());
    } finally {
      await (db.knex.client as { releaseConnection(c: unknown): Promise<void> }).releaseConnection(held);
    }
  };
  // Group commit. The claims made while the event loop handles one round of I/O are
  // inserted together at the end of that round, in one transaction: the write-ahead log
  // is appended once per round instead of once per call (the commit is most of an
  // insert's cost). Every request is still answered only after its claim is committed,
  // and a duplicate within one round loses exactly as it would across rounds.
  let queue: PendingClaim[] = [];
  const flush = (): void => {
    const batch = queue;
    queue = [];
    run((s) =>
      batch.length === 1 && batch[0]!.touch === null
        ? [claimOne(s, batch[0]!.claim, null)]
        : s.conn.transaction(() => batch.map((p) => claimOne(s, p.claim, p.touch)))(),
    ).then(
      (claimed) => batch.forEach((p, i) => p.resolve(claimed[i]!)),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  };
  return {
    lookup: (consumerKey, tokenHash, kind) =>
      run((s) =>
        kind === null
          ? (s.consumer.get(consumerKey) as CredentialRow | undefined)
          : // positional '?': the join's token hash comes before the WHERE's key
            (s[kind].get(tokenHash, consumerKey) as CredentialRow | undefined),
      ),
    claimNonce: (claim, touch) =>
      new Promise<boolean>((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({ claim, touch, resolve, reject });
      }),
  };
}

interface PendingClaim {
  claim: NonceClaim;
  touch: TokenTouch | null;
  resolve(claimed: boolean): void;
  reject(err: unknown): void;
}

interface ClaimStatements {
  nonce: BetterSqlite3.Statement;
  touch: BetterSqlite3.Statement;
  used: BetterSqlite3.Statement;
}

function claimOne(s: ClaimStatements, c: NonceClaim, touch: TokenTouch | null): boolean {
  const claimed = s.nonce.run(c.consumerId, c.tokenRef, c.timestamp, c.nonce).changes === 1;
  if (claimed && touch) {
    const t = s.touch.get(touch.at, touch.ip, touch.accessTokenId) as
      { user_id: number; consumer_id: number } | undefined;
    if (t) s.used.run(touch.at, t.user_id, t.consumer_id, touch.accessTokenId, touch.ip);
  }
  return claimed;
}

interface PgClient {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: Array<Record<string, unknown>> }>;
}

function pgHotPath(db: Database): HotPath {
  const text = sql((i) => `$${i}`);
  const client = db.knex.client as {
    acquireConnection(): Promise<PgClient>;
    releaseConnection(c: PgClient): Promise<void>;
  };
  const query = async (name: string, q: string, values: unknown[]) => {
    const conn = await client.acquireConnection();
    try {
      return (await conn.query({ name, text: q, values })).rows;
    } finally {
      await client.releaseConnection(conn);
    }
  };
  // One round trip: claim the nonce and, only if that succeeded and a touch is due,
  // update last_used and write the throttled 'token.used' audit event.
  const claimText = `WITH n AS (
      INSERT INTO nonces (consumer_id, token_ref, timestamp, nonce) VALUES ($1, $2, $3, $4)
      ON CONFLICT DO NOTHING RETURNING 1
    ), u AS (
      UPDATE access_tokens SET last_used_at = $5::bigint, last_used_ip = $6::varchar
      WHERE id = $7::int AND EXISTS (SELECT 1 FROM n) RETURNING id, user_id, consumer_id
    ), a AS (
      INSERT INTO audit_events (at, event, actor_user_id, consumer_id, token_id, ip)
      SELECT $5::bigint, 'token.used', user_id, consumer_id, id, $6::varchar FROM u
    )
    SELECT (SELECT count(*) FROM n)::int AS claimed`;
  return {
    lookup: async (consumerKey, tokenHash, kind) => {
      const rows =
        kind === null
          ? await query('applink_lookup_consumer', text.consumer, [consumerKey])
          : await query(`applink_lookup_${kind}`, text[kind], [consumerKey, tokenHash]);
      return rows[0] as CredentialRow | undefined;
    },
    claimNonce: async (c, touch) => {
      const rows = await query('applink_claim_nonce', claimText, [
        c.consumerId,
        c.tokenRef,
        c.timestamp,
        c.nonce,
        touch?.at ?? null,
        touch?.ip ?? null,
        touch?.accessTokenId ?? null,
      ]);
      return rows[0]?.claimed === 1;
    },
  };
}
