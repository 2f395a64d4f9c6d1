/**
 * Recent refused protocol and API requests per consumer, and for unknown consumer keys:
 * what an administrator needs to fix a link (clock skew, the URL a proxy changed, a stale
 * key) without reading server logs.
 *
 * Off the hot path: an accepted call never reaches this file. A refused one calls
 * `record`, which only updates an in-memory map (no I/O, never throws); a timer writes
 * the map out once a second (`flushMs`), so under a flood the database sees at most
 * `perFlush` rows per consumer (and for the unknown keys together) per second, identical
 * failures merged into one row with a count. Each write keeps the newest `keep` rows of
 * that consumer (or of the unknown keys) and deletes the rest, so the table is bounded by
 * `keep` x (consumers + 1) rows however many requests are refused. Memory is bounded too:
 * at most `maxKeys` distinct consumer keys and `perFlush` distinct failures per key are
 * held between writes; beyond that, failures are counted (`dropped`) and not kept.
 *
 * Consumer keys are resolved to consumers at write time, off the request: a refusal
 * before any lookup (a bad timestamp) is attributed too.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { ProblemCode } from '../oauth1/problems';

/** One refused request, as the HTTP layer saw it. Nothing secret may be put here. */
export interface FailureReport {
  /** ms since the epoch */
  at: number;
  /** the consumer key as sent (not yet checked against anything) */
  consumerKey: string;
  problem: ProblemCode;
  ip: string | null;
  method: string;
  /** the request path, without its query (a query can carry tokens) */
  path: string;
  /** timestamp_refused: consumer's timestamp minus the server's clock, seconds */
  clockSkew?: number | null;
  /** signature_invalid: scheme://host:port (and base path) the server verified against */
  serverUrl?: string | null;
  /** signature_invalid: scheme and Host header the request reached */
  reachedUrl?: string | null;
  /** signature_invalid: the X-Forwarded-Proto/Host headers as sent, when present */
  forwarded?: string | null;
  /** what to do about it, in a sentence */
  hint: string;
}

export interface FailureEntry {
  id: number;
  /** for unknown keys: the key as sent (printable ASCII, at most 64 characters) */
  consumerKey: string | null;
  firstAt: number;
  lastAt: number;
  /** how many refused requests this row stands for */
  count: number;
  problem: string;
  ip: string | null;
  method: string;
  path: string;
  clockSkew: number | null;
  serverUrl: string | null;
  reachedUrl: string | null;
  forwarded: string | null;
  hint: string;
}

export interface FailureLogOptions {
  /** rows kept per consumer, and for the unknown keys together */
  keep: number;
  /** distinct failures written per consumer (and for unknown keys) per flush */
  perFlush: number;
  /** ms between writes */
  flushMs: number;
  /** distinct consumer keys held in memory between writes */
  maxKeys: number;
  /** identical failures within this many ms of a row's last one add to its count */
  mergeWindowMs: number;
}

export const FAILURE_LOG_DEFAULTS: Readonly<FailureLogOptions> = Object.freeze({
  keep: 50,
  perFlush: 5,
  flushMs: 1000,
  maxKeys: 256,
  mergeWindowMs: 10 * 60_000,
});

const KEY_LIMIT = 64;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

interface Pending {
  report: FailureReport;
  firstAt: number;
  count: number;
  mergeKey: string;
}

/** Printable ASCII, at most 64 characters: what is stored and shown of an unknown key. */
export function cleanKey(key: string): string {
  const printable = key.replace(/[^\x20-\x7e]/g, '?');
  return printable.slice(0, KEY_LIMIT);
}

function cut(s: string, n: number): string;
function cut(s: string | null | undefined, n: number): string | null;
function cut(s: string | null | undefined, n: number): string | null {
  return s === null || s === undefined ? null : s.length > n ? s.slice(0, n) : s;
}

function mergeKeyOf(r: FailureReport): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        r.consumerKey,
        r.problem,
        r.ip,
        r.method,
        r.path,
        r.serverUrl ?? null,
        r.reachedUrl ?? null,
        r.forwarded ?? null,
      ]),
    )
    .digest('hex');
}

export class FailureLog {
  private pending = new Map<string, Map<string, Pending>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  /** failures not kept because a bound was reached (for tests and metrics) */
  dropped = 0;
  private readonly opts: FailureLogOptions;

  constructor(
    private readonly knex: Knex,
    options: Partial<FailureLogOptions> = {},
    /** told when a write fails (the log is diagnostics: a failed write is not retried) */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.opts = { ...FAILURE_LOG_DEFAULTS, ...options };
  }

  /** Notes a refused request. Memory only; never throws, never waits. */
  record(report: FailureReport): void {
    if (this.closed) return;
    const key = report.consumerKey;
    let bucket = this.pending.get(key);
    if (!bucket) {
      if (this.pending.size >= this.opts.maxKeys) {
        this.dropped++;
        return;
      }
      bucket = new Map();
      this.pending.set(key, bucket);
    }
    const mergeKey = mergeKeyOf(report);
    const same = bucket.get(mergeKey);
    if (same) {
      same.count++;
      same.report = report;
    } else if (bucket.size < this.opts.perFlush) {
      bucket.set(mergeKey, { report, firstAt: report.at, count: 1, mergeKey });
    } else {
      this.dropped++;
    }
    this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs).unref();
  }

  /** Writes what is pending now (the timer calls it; tests and shutdown may too). */
  async flush(): Promise<void> {
    // One write at a time; a flush asked for during one runs after it.
    while (this.flushing) await this.flushing;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0) return;
    this.flushing = this.write(batch).then(
      () => undefined,
      (err: unknown) => this.onError(err),
    );
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  /** Writes what is pending and stops recording. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async write(batch: Map<string, Map<string, Pending>>): Promise<void> {
    // Only a key of a consumer key's shape can name one (and a NUL would make PostgreSQL
    // refuse the whole query); the others are unknown without asking.
    const keys = [...batch.keys()].filter((k) => KEY_SHAPE.test(k));
    const rows: Array<{ id: number; consumer_key: string }> =
      keys.length === 0 ? [] : await this.knex('consumers').whereIn('consumer_key', keys).select('id', 'consumer_key');
    const ids = new Map(rows.map((r) => [r.consumer_key, r.id]));
    // Known consumers: their own list. Unknown keys: one list, the newest perFlush of them.
    const groups = new Map<number | null, Pending[]>();
    const unknown: Pending[] = [];
    for (const [key, bucket] of batch) {
      const id = ids.get(key);
      if (id === undefined) unknown.push(...bucket.values());
      else groups.set(id, [...bucket.values()]);
    }
    if (unknown.length > 0) {
      unknown.sort((a, b) => b.report.at - a.report.at);
      this.dropped += Math.max(0, unknown.length - this.opts.perFlush);
      groups.set(null, unknown.slice(0, this.opts.perFlush));
    }
    await this.knex.transaction(async (trx) => {
      for (const [consumerId, entries] of groups) {
        for (const e of entries) await this.upsert(trx, consumerId, e);
        await this.prune(trx, consumerId);
      }
    });
  }

  private scope(q: Knex.QueryBuilder, consumerId: number | null): Knex.QueryBuilder {
    return consumerId === null ? q.whereNull('consumer_id') : q.where('consumer_id', consumerId);
  }

  private async upsert(trx: Knex.Transaction, consumerId: number | null, e: Pending): Promise<void> {
    const r = e.report;
    const latest = {
      last_at: r.at,
      clock_skew: r.clockSkew ?? null,
      hint: r.hint,
    };
    const merged = await this.scope(trx('consumer_failures'), consumerId)
      .where('merge_key', e.mergeKey)
      .where('last_at', '>=', r.at - this.opts.mergeWindowMs)
      .update({ ...latest, count: trx.raw('count + ?', [e.count]) });
    if (merged > 0) return;
    await trx('consumer_failures').insert({
      consumer_id: consumerId,
      consumer_key: consumerId === null ? cleanKey(r.consumerKey) : null,
      merge_key: e.mergeKey,
      first_at: e.firstAt,
      count: e.count,
      problem: r.problem,
      ip: cut(r.ip, 64),
      method: cut(r.method, 16),
      path: cut(r.path, 256),
      server_url: cut(r.serverUrl, 300),
      reached_url: cut(r.reachedUrl, 300),
      forwarded: cut(r.forwarded, 300),
      ...latest,
    });
  }

  private async prune(trx: Knex.Transaction, consumerId: number | null): Promise<void> {
    const newest = this.scope(trx('consumer_failures'), consumerId)
      .select('id')
      .orderBy([
        { column: 'last_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(this.opts.keep);
    await this.scope(trx('consumer_failures'), consumerId).whereNotIn('id', newest).delete();
  }
}

interface FailureRow {
  id: number;
  consumer_key: string | null;
  first_at: number;
  last_at: number;
  count: number;
  problem: string;
  ip: string | null;
  method: string;
  path: string;
  clock_skew: number | null;
  server_url: string | null;
  reached_url: string | null;
  forwarded: string | null;
  hint: string;
}

const toEntry = (r: FailureRow): FailureEntry => ({
  id: r.id,
  consumerKey: r.consumer_key,
  firstAt: r.first_at,
  lastAt: r.last_at,
  count: r.count,
  problem: r.problem,
  ip: r.ip,
  method: r.method,
  path: r.path,
  clockSkew: r.clock_skew,
  serverUrl: r.server_url,
  reachedUrl: r.reached_url,
  forwarded: r.forwarded,
  hint: r.hint,
});

const COLUMNS = [
  'id',
  'consumer_key',
  'first_at',
  'last_at',
  'count',
  'problem',
  'ip',
  'method',
  'path',
  'clock_skew',
  'server_url',
  'reached_url',
  'forwarded',
  'hint',
];

/** A consumer's recent refused requests, newest first (at most FAILURE_LOG_DEFAULTS.keep). */
export async function recentFailures(knex: Knex, consumerId: number, limit = FAILURE_LOG_DEFAULTS.keep) {
  const rows = await knex('consumer_failures')
    .where('consumer_id', consumerId)
    .orderBy([
      { column: 'last_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit)
    .select<FailureRow[]>(COLUMNS);
  return rows.map(toEntry);
}

/** Recent requests with an unknown consumer key, newest first; `consumerKey` says which. */
export async function unknownKeys(knex: Knex, limit = FAILURE_LOG_DEFAULTS.keep): Promise<FailureEntry[]> {
  const rows = await knex('consumer_failures')
    .whereNull('consumer_id')
    .orderBy([
      { column: 'last_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit)
    .select<FailureRow[]>(COLUMNS);
  return rows.map(toEntry);
}
