/**
 * The two statements every signed call runs, prepared once and executed without knex's
 * per-query SQL building: the credential lookup (consumer, token and user in one join)
 * and the nonce claim (with the throttled last_used update riding along).
 * SQLite runs them synchronously on knex's single connection, the claims of one
 * event-loop round in one transaction (group commit); PostgreSQL as named prepared
 * statements, the lookups of one round in one round trip and their claims in another
 * (see batch.ts), so a signed call takes part in exactly two round trips.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Database } from './index';
import type { AuditEvent, NonceClaim, TokenKind, TokenTouch } from '../oauth1/ports';
import type { UserRow } from './rows';
import { batched } from './batch';

/** The joined row of the one-query credential lookup, columns prefixed by table. */
export interface CredentialRow {
  c_id: number;
  c_key: string;
  c_name: string;
  c_description: string;
  c_callback: string | null;
  c_secret: string | null;
  c_public_key: string | null;
  c_disabled: number | null;
  t_id: number | null;
  [column: string]: unknown;
}

export interface HotPath {
  lookup(consumerKey: string, tokenHash: string | null, kind: TokenKind | null): Promise<CredentialRow | undefined>;
  claimNonce(claim: NonceClaim, touch: TokenTouch | null): Promise<boolean>;
  /**
   * POST /rest/api/1/myself's write: the display name and its audit entry, both or
   * neither, committed before it answers. The updated row, or undefined (no such user).
   * SQLite: the writes of one round in one transaction (one commit), in arrival order;
   * PostgreSQL: one statement (one round trip, no BEGIN/COMMIT of its own).
   */
  setDisplayName(userId: number, displayName: string, audit: AuditEvent, at: number): Promise<UserRow | undefined>;
}

/** The audit row's values, in the column order of AUDIT_COLUMNS. */
const auditValues = (e: AuditEvent, at: number) => [
  at,
  e.event,
  e.actorUserId ?? null,
  e.consumerId ?? null,
  e.tokenId ?? null,
  e.ip ?? null,
  e.detail ? JSON.stringify(e.detail) : null,
];
const AUDIT_COLUMNS = 'at, event, actor_user_id, consumer_id, token_id, ip, detail';
const PG_SET_DISPLAY_NAME = `WITH u AS (UPDATE users SET display_name = $2 WHERE id = $1 RETURNING *),
  a AS (INSERT INTO audit_events (${AUDIT_COLUMNS})
    SELECT $3::bigint, $4::varchar, $5::int, $6::int, $7::int, $8::varchar, $9::text FROM u)
  SELECT * FROM u`;

// The columns and joins of the credential lookup, shared by both dialects.
const CONSUMER_COLUMNS = `c.id AS c_id, c.consumer_key AS c_key, c.name AS c_name, c.description AS c_description,
  c.callback_url AS c_callback, c.secret_enc AS c_secret, c.public_key AS c_public_key, c.disabled_at AS c_disabled`;
const ACCESS_COLUMNS = `t.id AS t_id, t.secret_enc AS t_secret, t.expires_at AS t_expires, t.revoked_at AS t_revoked,
  t.last_used_at AS t_last_used,
  u.id AS u_id, u.username AS u_username, u.email AS u_email, u.display_name AS u_display_name,
  u.is_admin AS u_is_admin, u.disabled_at AS u_disabled`;
const REQUEST_COLUMNS = `t.id AS t_id, t.secret_enc AS t_secret, t.expires_at AS t_expires, t.callback AS t_callback,
  t.user_id AS t_user_id, t.verifier_hash AS t_verifier_hash, t.verifier_failures AS t_verifier_failures,
  t.authorized_at AS t_authorized_at, t.denied_at AS t_denied_at, t.used_at AS t_used_at`;
const ACCESS_JOIN = (hash: string) =>
  `LEFT JOIN access_tokens t ON t.token_hash = ${hash} AND t.consumer_id = c.id LEFT JOIN users u ON u.id = t.user_id`;
const REQUEST_JOIN = (hash: string) => `LEFT JOIN request_tokens t ON t.token_hash = ${hash} AND t.consumer_id = c.id`;

// SQLite: one (key, hash) pair. Positional '?': the join's token hash comes first.
const SQLITE_LOOKUP = {
  consumer: `SELECT ${CONSUMER_COLUMNS}, NULL AS t_id FROM consumers c WHERE c.consumer_key = ?`,
  access: `SELECT ${CONSUMER_COLUMNS}, ${ACCESS_COLUMNS} FROM consumers c ${ACCESS_JOIN('?')} WHERE c.consumer_key = ?`,
  request: `SELECT ${CONSUMER_COLUMNS}, ${REQUEST_COLUMNS} FROM consumers c ${REQUEST_JOIN('?')} WHERE c.consumer_key = ?`,
};

// PostgreSQL: the pairs of one round, each row tagged with the ordinal of its pair.
const PAIRS = `unnest($1::varchar[], $2::varchar[]) WITH ORDINALITY AS x(consumer_key, token_hash, i)
  JOIN consumers c ON c.consumer_key = x.consumer_key`;
const PG_LOOKUP = {
  consumer: `SELECT x.i, ${CONSUMER_COLUMNS}, NULL AS t_id FROM unnest($1::varchar[]) WITH ORDINALITY AS x(consumer_key, i)
    JOIN consumers c ON c.consumer_key = x.consumer_key`,
  access: `SELECT x.i, ${CONSUMER_COLUMNS}, ${ACCESS_COLUMNS} FROM ${PAIRS} ${ACCESS_JOIN('x.token_hash')}`,
  request: `SELECT x.i, ${CONSUMER_COLUMNS}, ${REQUEST_COLUMNS} FROM ${PAIRS} ${REQUEST_JOIN('x.token_hash')}`,
};

export function createHotPath(db: Database): HotPath {
  return db.dialect === 'sqlite' ? sqliteHotPath(db) : pgHotPath(db);
}

function sqliteHotPath(db: Database): HotPath {
  let prepared:
    | {
        conn: BetterSqlite3.Database;
        consumer: BetterSqlite3.Statement;
        access: BetterSqlite3.Statement;
        request: BetterSqlite3.Statement;
        nonce: BetterSqlite3.Statement;
        touch: BetterSqlite3.Statement;
        used: BetterSqlite3.Statement;
        displayName: BetterSqlite3.Statement;
        audit: BetterSqlite3.Statement;
      }
    | undefined;
  type Prepared = NonNullable<typeof prepared>;
  const statements = (): Prepared => {
    const conn = db.sqlite();
    if (prepared?.conn !== conn) {
      prepared = {
        conn,
        consumer: conn.prepare(SQLITE_LOOKUP.consumer),
        access: conn.prepare(SQLITE_LOOKUP.access),
        request: conn.prepare(SQLITE_LOOKUP.request),
        nonce: conn.prepare(
          'INSERT INTO nonces (consumer_id, token_ref, timestamp, nonce) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        ),
        touch: conn.prepare(
          'UPDATE access_tokens SET last_used_at = ?, last_used_ip = ? WHERE id = ? RETURNING user_id, consumer_id',
        ),
        used: conn.prepare(
          "INSERT INTO audit_events (at, event, actor_user_id, consumer_id, token_id, ip) VALUES (?, 'token.used', ?, ?, ?, ?)",
        ),
        displayName: conn.prepare('UPDATE users SET display_name = ? WHERE id = ? RETURNING *'),
        audit: conn.prepare(`INSERT INTO audit_events (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
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
  // Group commit: one transaction for the claims of one round (a commit is most of an
  // insert's cost). A duplicate within a round loses exactly as it would across rounds.
  const claim = batched((claims: Array<{ claim: NonceClaim; touch: TokenTouch | null }>) =>
    run((s) => {
      const only = claims.length === 1 ? claims[0] : undefined;
      return only?.touch === null
        ? [claimOne(s, only.claim, null)]
        : s.conn.transaction(() => claims.map((c) => claimOne(s, c.claim, c.touch)))();
    }),
  );
  const setDisplayName = batched(
    (items: Array<{ userId: number; displayName: string; audit: AuditEvent; at: number }>) =>
      run((s) =>
        s.conn.transaction(() =>
          items.map((i) => {
            const row = s.displayName.get(i.displayName, i.userId) as UserRow | undefined;
            if (row) s.audit.run(...auditValues(i.audit, i.at));
            return row;
          }),
        )(),
      ),
  );
  return {
    setDisplayName: (userId, displayName, audit, at) => setDisplayName({ userId, displayName, audit, at }),
    lookup: (consumerKey, tokenHash, kind) =>
      run((s) =>
        kind === null
          ? (s.consumer.get(consumerKey) as CredentialRow | undefined)
          : (s[kind].get(tokenHash, consumerKey) as CredentialRow | undefined),
      ),
    claimNonce: (c, touch) => claim({ claim: c, touch }),
  };
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

// The claims of one round: insert the nonces; for those that went in and carry a due
// touch, update last_used and write the throttled 'token.used' audit event. Answers the
// ordinals of the claims that won.
//
// Rounds run concurrently on several connections, so nothing here may wait on another
// round in an order that could deadlock: the nonces go in sorted by key (a replayed pair
// of nonces in two rounds is met in the same order by both), and the throttled touch skips
// a token row another round is updating at that moment (it is a "last used" stamp: the
// other round is writing one just as fresh).
//
// The claim commits synchronously, like every other write: an asynchronous commit was
// measured (about 15 % more throughput) and refused, because a PostgreSQL crash could then
// forget the claims of its last moments and a captured request could be replayed once
// within the timestamp window. The nonce is the replay guard; it must survive a crash.
const PG_CLAIM = `WITH x AS (
    SELECT * FROM unnest($1::int[], $2::varchar[], $3::bigint[], $4::varchar[], $5::bigint[], $6::varchar[], $7::int[])
      WITH ORDINALITY AS x(consumer_id, token_ref, ts, nonce, touch_at, touch_ip, touch_token, i)
  ), n AS (
    INSERT INTO nonces (consumer_id, token_ref, timestamp, nonce)
    SELECT consumer_id, token_ref, ts, nonce FROM x ORDER BY ts, consumer_id, token_ref, nonce
    ON CONFLICT DO NOTHING
    RETURNING consumer_id, token_ref, timestamp, nonce
  ), won AS (
    SELECT x.* FROM x JOIN n
      ON n.consumer_id = x.consumer_id AND n.token_ref = x.token_ref AND n.timestamp = x.ts AND n.nonce = x.nonce
  ), due AS (
    SELECT DISTINCT ON (touch_token) touch_token, touch_at, touch_ip FROM won
    WHERE touch_token IS NOT NULL ORDER BY touch_token, i
  ), free AS (
    SELECT t.id FROM access_tokens t WHERE t.id IN (SELECT touch_token FROM due) ORDER BY t.id FOR UPDATE SKIP LOCKED
  ), u AS (
    UPDATE access_tokens t SET last_used_at = due.touch_at, last_used_ip = due.touch_ip
    FROM due WHERE t.id = due.touch_token AND t.id IN (SELECT id FROM free)
    RETURNING t.id, t.user_id, t.consumer_id, due.touch_at, due.touch_ip
  ), a AS (
    INSERT INTO audit_events (at, event, actor_user_id, consumer_id, token_id, ip)
    SELECT touch_at, 'token.used', user_id, consumer_id, id, touch_ip FROM u
  )
  SELECT array(SELECT i::int FROM won) AS won`;

interface Claim {
  claim: NonceClaim;
  touch: TokenTouch | null;
}

function pgHotPath(db: Database): HotPath {
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
  // Answers in batch order: rows carry the ordinal (1-based) of the pair they are for.
  const inOrder = (rows: Array<Record<string, unknown>>, n: number): Array<CredentialRow | undefined> => {
    const out = new Array<CredentialRow | undefined>(n);
    for (const r of rows) out[Number(r.i) - 1] = r as CredentialRow;
    return out;
  };
  const lookupConsumers = batched(async (keys: string[]) =>
    inOrder(await query('applink_lookup_consumer', PG_LOOKUP.consumer, [keys]), keys.length),
  );
  const lookupTokens = (kind: TokenKind) =>
    batched(async (pairs: Array<[string, string | null]>) =>
      inOrder(
        await query(`applink_lookup_${kind}`, PG_LOOKUP[kind], [pairs.map((p) => p[0]), pairs.map((p) => p[1])]),
        pairs.length,
      ),
    );
  const lookups = { access: lookupTokens('access'), request: lookupTokens('request') };

  const claim = batched(async (claims: Claim[]): Promise<boolean[]> => {
    // The same nonce twice in one round: only the first can win, the others lose here
    // (sent together, they would all match the one row that went in).
    const first = new Map<string, number>();
    const sent: Claim[] = [];
    const slot = claims.map((c) => {
      const k = `${c.claim.consumerId}\u0000${c.claim.tokenRef}\u0000${c.claim.timestamp}\u0000${c.claim.nonce}`;
      if (first.has(k)) return -1;
      first.set(k, sent.length);
      sent.push(c);
      return sent.length - 1;
    });
    const rows = await query('applink_claim_nonces', PG_CLAIM, [
      sent.map((c) => c.claim.consumerId),
      sent.map((c) => c.claim.tokenRef),
      sent.map((c) => c.claim.timestamp),
      sent.map((c) => c.claim.nonce),
      sent.map((c) => c.touch?.at ?? null),
      sent.map((c) => c.touch?.ip ?? null),
      sent.map((c) => c.touch?.accessTokenId ?? null),
    ]);
    const won = new Array<boolean>(sent.length).fill(false);
    const answer = rows[0];
    if (!answer) throw new Error('the nonce claim returned no row');
    for (const i of answer.won as number[]) won[i - 1] = true;
    return slot.map((i) => i !== -1 && won[i] === true);
  });

  return {
    setDisplayName: async (userId, displayName, audit, at) =>
      (
        await query('applink_set_display_name', PG_SET_DISPLAY_NAME, [userId, displayName, ...auditValues(audit, at)])
      )[0] as unknown as UserRow | undefined,
    lookup: (consumerKey, tokenHash, kind) =>
      kind === null ? lookupConsumers(consumerKey) : lookups[kind]([consumerKey, tokenHash]),
    claimNonce: (c, touch) => claim({ claim: c, touch }),
  };
}
