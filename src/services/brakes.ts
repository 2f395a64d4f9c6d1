/**
 * Brute-force brakes and sampled refusals, counted in the shared database
 * (src/db/throttles.ts) so that every node on one PostgreSQL shares one budget. One per
 * process (src/wiring.ts); sign-in (src/services/sign-in.ts) and first-run setup use it.
 *
 * Sign-in (see docs/operations.md, "Brute force"). Only real attempts count: a post that
 * passed the CSRF check and carried both a username and a password. Two brakes:
 *
 * - per account AND address: the first SIGN_IN_LIMITS.freeFailures wrong passwords for one
 *   account from one address cost nothing; after that each further try must wait twice as
 *   long as the one before (1 s, 2 s, 4 s … at most maxDelayMs). The pair forgets after
 *   pairMemoryMs without attempts, and a right password clears it. A stranger guessing a
 *   victim's password slows down only their own guessing: the victim, from their own
 *   address, is never locked out by it.
 * - per address: perAddress failures in windowMs (any accounts) stop that address for
 *   the rest of the window. Generous, so that a shared office address is not stopped by
 *   a few people mistyping; it bounds guessing across many accounts.
 *
 * A braked attempt is answered 429 with Retry-After and the password is not checked.
 *
 * First-run setup: wrong setup codes are counted per address (setup.perAddress in
 * setup.windowMs); they never replace or invalidate the operator's code.
 *
 * Refusals that a flood could repeat (braked sign-ins, refused single-sign-on assertions)
 * are sampled into the audit log: the 1st, 10th, 100th … of a kind per address per
 * window are written, each with the count so far, so a flood adds a handful of rows.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { ThrottleStore, type ThrottleState } from '../db/throttles';
import type { AuditEvent, Clock } from '../oauth1/ports';
import type { Transactor } from './transaction';

export const SIGN_IN_LIMITS = Object.freeze({
  /** wrong passwords per account-and-address pair before delays begin */
  freeFailures: 5,
  /** the first delay after the free failures; it doubles with each further failure */
  firstDelayMs: 1000,
  maxDelayMs: 15 * 60 * 1000,
  /** a pair is forgotten after this long without an attempt */
  pairMemoryMs: 24 * 3600 * 1000,
  /** wrong passwords per address (any accounts) per window */
  perAddress: 100,
  windowMs: 15 * 60 * 1000,
});

export const SETUP_LIMITS = Object.freeze({ perAddress: 10, windowMs: 15 * 60 * 1000 });

/** Refusals of one kind from one address are sampled over this window. */
export const SAMPLE_WINDOW_MS = 15 * 60 * 1000;

export type Verdict =
  | { ok: true; release(success: boolean): Promise<void> }
  | { ok: false; retryAfterS: number; by: 'address' | 'account' };

/** The wait after `failures` wrong passwords of one pair (0 while they are free). */
export function pairDelayMs(failures: number): number {
  if (failures < SIGN_IN_LIMITS.freeFailures) return 0;
  const doublings = Math.min(failures - SIGN_IN_LIMITS.freeFailures, 30);
  return Math.min(SIGN_IN_LIMITS.firstDelayMs * 2 ** doublings, SIGN_IN_LIMITS.maxDelayMs);
}

/**
 * An account name as the brakes key it: case does not make a new pair, and the key is a
 * digest (whatever was typed, NUL bytes included, the key is 43 safe characters).
 */
const accountKey = (username: string) => createHash('sha256').update(username.trim().toLowerCase()).digest('base64url');

export interface Brakes {
  /**
   * Before a password is checked: may this attempt go on? When it may, the attempt is
   * counted against its pair at once (so parallel tries cannot slip through together), and
   * release(success) must follow: success clears the pair, failure counts for the address.
   */
  signIn(username: string, ip: string): Promise<Verdict>;
  /** Before a setup code is checked; wrongCode() after a wrong one. */
  setup(ip: string): Promise<{ ok: true } | { ok: false; retryAfterS: number }>;
  wrongSetupCode(ip: string): Promise<void>;
  /** Writes `entry` to the audit log when it is the 1st, 10th, 100th … of `kind` in the window. */
  sampledAudit(kind: string, entry: AuditEvent): Promise<void>;
}

const retryAfter = (untilMs: number, now: number) => Math.max(1, Math.ceil((untilMs - now) / 1000));

export function createBrakes(
  knex: Knex,
  clock: Clock,
  tx: Pick<Transactor, 'audit'>,
  counters = new ThrottleStore(knex),
): Brakes {
  const now = () => clock.now();
  const pairBucket = (username: string, ip: string) => `login:pair:${ip}\n${accountKey(username)}`;
  const addressBucket = (ip: string) => `login:address:${ip}`;

  /** When an address's budget is spent, the end of its window; else null. */
  const blockedUntil = (st: ThrottleState | null, limit: number): number | null =>
    st !== null && st.hits >= limit ? st.expiresAt : null;

  return {
    async signIn(username, ip) {
      const t = now();
      const address = blockedUntil(await counters.peek(addressBucket(ip), t), SIGN_IN_LIMITS.perAddress);
      if (address !== null) return { ok: false, by: 'address', retryAfterS: retryAfter(address, t) };
      const bucket = pairBucket(username, ip);
      const before = await counters.peek(bucket, t);
      if (before && pairDelayMs(before.hits) > 0) {
        const until = before.lastAt + pairDelayMs(before.hits);
        if (t < until) return { ok: false, by: 'account', retryAfterS: retryAfter(until, t) };
      }
      // Counted now; a success takes it back. The returned count is this attempt's own:
      // of racing attempts only those the delay allows go on.
      const mine = await counters.hit(bucket, t, { windowMs: SIGN_IN_LIMITS.pairMemoryMs, sliding: true });
      const wait = pairDelayMs(mine.hits - 1);
      const until = mine.prevAt + wait;
      if (mine.prevAt > 0 && wait > 0 && t < until)
        return { ok: false, by: 'account', retryAfterS: retryAfter(until, t) };
      return {
        ok: true,
        async release(success) {
          if (success) return counters.clear(bucket);
          await counters.hit(addressBucket(ip), now(), { windowMs: SIGN_IN_LIMITS.windowMs });
        },
      };
    },

    async setup(ip) {
      const t = now();
      const until = blockedUntil(await counters.peek(`setup:address:${ip}`, t), SETUP_LIMITS.perAddress);
      if (until !== null) return { ok: false, retryAfterS: retryAfter(until, t) };
      return { ok: true };
    },

    async wrongSetupCode(ip) {
      await counters.hit(`setup:address:${ip}`, now(), { windowMs: SETUP_LIMITS.windowMs });
    },

    async sampledAudit(kind, entry) {
      const st = await counters.hit(`audit:${kind}:${entry.ip ?? ''}`, now(), { windowMs: SAMPLE_WINDOW_MS });
      if (!isSampled(st.hits)) return;
      // count: refusals of this kind from this address in the window so far
      await tx.audit(null, { ...entry, detail: { ...entry.detail, count: st.hits } });
    },
  };
}

/** 1, 10, 100, 1000 …: a flood of n refusals writes about log10(n) rows. */
const isSampled = (n: number): boolean => {
  for (let p = 1; p <= n; p *= 10) if (p === n) return true;
  return false;
};
