/**
 * Signing in, with a password (the login form) or with an identity-aware proxy's
 * assertion (single sign-on), and the audit entries it writes: `login.succeeded`,
 * `login.failed`, `login.throttled` (sampled), `sso.login`, `sso.refused` (sampled). The
 * HTTP layer (src/http/web/login-router.ts, sso-sign-in.ts) converts the request, calls one
 * action here and answers; the session is its concern, handed in as `startSession` so that
 * the entry saying someone signed in is written only once their session exists.
 *
 * A sign-in changes nothing in the database but the brakes' counters (which must count
 * even when the attempt fails), so its entries are written on their own, not in a
 * transaction with a change.
 */
import type { UserRecord } from '../oauth1/ports';
import type { RefusalReason, SingleSignOn } from '../sso';
import type { Brakes } from './brakes';
import type { Transactor } from './transaction';
import type { UserService } from './users';

/** Longest username or password looked at; longer ones are wrong without a lookup. */
export const SIGN_IN_FIELD_MAX = 1024;

export type PasswordSignIn =
  | { ok: true; user: UserRecord }
  /** braked: the password was not checked; try again after `retryAfterS` */
  | { ok: false; reason: 'throttled'; retryAfterS: number }
  /** a wrong username or password, or a disabled account (the answer does not say which) */
  | { ok: false; reason: 'refused' };

export type AssertionSignIn =
  /** the user the browser acts as from now on (null: no one) */
  | { user: UserRecord | null; refused?: undefined }
  /** the assertion was refused and no one was signed in: no one is */
  | { user: null; refused: RefusalReason };

/** Establishes the browser's session for `user` (a new session id). */
export type StartSession = (user: UserRecord) => Promise<void>;

export class SignInService {
  constructor(
    private readonly tx: Transactor,
    private readonly users: UserService,
    private readonly brakes: Brakes,
  ) {}

  /**
   * A sign-in attempt with a password (both given: an empty one is no attempt and is not
   * passed here). It goes through the brakes before the password is checked.
   */
  async withPassword(
    attempt: { username: string; password: string; ip: string | null },
    startSession: StartSession,
  ): Promise<PasswordSignIn> {
    const { username, password, ip } = attempt;
    const verdict = await this.brakes.signIn(username.slice(0, SIGN_IN_FIELD_MAX), ip ?? '');
    if (!verdict.ok) {
      await this.brakes.sampledAudit(`login.throttled:${verdict.by}`, {
        event: 'login.throttled',
        ip,
        detail: { by: verdict.by },
      });
      return { ok: false, reason: 'throttled', retryAfterS: verdict.retryAfterS };
    }
    const user =
      username.length <= SIGN_IN_FIELD_MAX && password.length <= SIGN_IN_FIELD_MAX
        ? await this.users.authenticate(username, password)
        : null;
    if (!user || user.disabled) {
      await verdict.release(false);
      await this.tx.audit(null, {
        event: 'login.failed',
        ip,
        detail: { reason: user ? 'disabled' : 'bad credentials' },
      });
      return { ok: false, reason: 'refused' };
    }
    await verdict.release(true);
    await startSession(user);
    await this.tx.audit(null, { event: 'login.succeeded', actorUserId: user.id, ip });
    return { ok: true, user };
  }

  /**
   * A request carrying the proxy's assertion, from a browser signed in as `current` (or
   * no one). A valid assertion for `current` changes nothing; one for someone else signs
   * them in (a new session) when `mayChangeUser` (a page view: a shared browser whose proxy
   * sign-in changed), and no one otherwise (a form post never switches identity between a
   * page and its form). A refused assertion signs no one in and no one out; refusals are
   * sampled into the audit log (a flood of bad assertions adds a handful of rows).
   */
  async withAssertion(
    sso: SingleSignOn,
    attempt: { assertion: string; ip: string | null; current: UserRecord | null; mayChangeUser: boolean },
    startSession: StartSession,
  ): Promise<AssertionSignIn> {
    const { current, ip } = attempt;
    const outcome = await sso.signIn(attempt.assertion);
    if (!outcome.ok) {
      if (current) return { user: current };
      await this.brakes.sampledAudit(`sso.refused:${outcome.reason}`, {
        event: 'sso.refused',
        actorUserId: outcome.userId ?? null,
        ip,
        detail: { reason: outcome.reason },
      });
      return { user: null, refused: outcome.reason };
    }
    if (current?.id === outcome.user.id) return { user: current };
    if (!attempt.mayChangeUser) return { user: null };
    await startSession(outcome.user);
    await this.tx.audit(null, {
      event: 'sso.login',
      actorUserId: outcome.user.id,
      ip,
      detail: outcome.provisioned ? { provisioned: true } : current ? { replaced: current.username } : {},
    });
    return { user: outcome.user };
  }
}
