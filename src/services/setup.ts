/**
 * First run: while no enabled administrator exists, the person holding the one-time setup
 * code (src/first-run.ts, printed in the server log) creates the first administrator.
 * The new administrator and the `setup.completed` entry commit in one transaction; a
 * wrong code is audited (`setup.failed`) and refused, and never replaces or invalidates
 * the code. Wrong codes are braked per address (src/services/brakes.ts); a braked attempt
 * is sampled into the audit log (`setup.throttled`) and not checked.
 */
import type { UserRecord } from '../oauth1/ports';
import type { FirstRun } from '../first-run';
import { forbidden, notFound, throttled } from '../errors';
import { FIELD_LIMITS, parseInput } from '../fields';
import type { Transactor } from './transaction';
import { newUserInput, type NewUserInput, type UserService } from './users';
import { hashPassword } from '../secret-box';
import type { Brakes } from './brakes';

export class SetupService {
  constructor(
    private readonly tx: Transactor,
    private readonly users: UserService,
    private readonly code: FirstRun,
    private readonly brakes: Brakes,
  ) {}

  /** Setup is open while no enabled administrator exists (read fresh: another node or the CLI may add one). */
  isOpen(): Promise<boolean> {
    return this.code.isOpen();
  }

  /** At start: if setup is open, print a code for the operator. */
  announce(setupUrl: string): Promise<void> {
    return this.code.announce(setupUrl);
  }

  /** A code for the operator when setup is open and this process holds none. */
  ensureCode(setupUrl: string): Promise<void> {
    return this.code.ensureCode(setupUrl);
  }

  /**
   * Creates the first administrator. `not_found` once setup is closed; `invalid_input` for
   * a form that is not an attempt (nothing counted); `throttled` (with the seconds to wait)
   * after too many wrong codes from the address, without checking the code; `forbidden` for a wrong code (audited and counted against the address; the
   * code stays as it was); `conflict` when the username or email is taken (the code stays
   * valid).
   */
  async createFirstAdmin(
    attempt: { setupCode: string; ip: string | null },
    input: Omit<NewUserInput, 'isAdmin'>,
  ): Promise<UserRecord> {
    if (!(await this.isOpen())) throw notFound('setup is finished');
    const u = parseInput(newUserInput, { ...input, isAdmin: true });
    const braked = await this.brakes.setup(attempt.ip ?? '');
    if (!braked.ok) {
      await this.brakes.sampledAudit('setup.throttled', { event: 'setup.throttled', ip: attempt.ip });
      throw throttled('Too many attempts from your address. Wait a few minutes and try again.', braked.retryAfterS);
    }
    const giveBack = await this.code.take(attempt.setupCode.slice(0, FIELD_LIMITS.setupCode));
    if (!giveBack) {
      await this.tx.audit(null, { event: 'setup.failed', ip: attempt.ip, detail: { reason: 'wrong setup code' } });
      await this.brakes.wrongSetupCode(attempt.ip ?? '');
      throw forbidden('That setup code is not right. Copy it from the server log.');
    }
    try {
      const passwordHash = u.password === undefined ? null : await hashPassword(u.password);
      return await this.tx.run(async (t) => {
        const admin = await this.users.insert(t.db, { ...u, passwordHash });
        await t.audit(null, {
          event: 'setup.completed',
          actorUserId: admin.id,
          ip: attempt.ip,
          detail: { username: admin.username },
        });
        return admin;
      });
    } catch (e) {
      await giveBack();
      throw e;
    }
  }
}
