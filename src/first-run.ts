/**
 * First run: while no (enabled) administrator exists, /setup lets one person create the
 * first admin. It is guarded by a one-time setup code that only the operator sees, in the
 * server log. The code lives in this process's memory (a fresh one at each start while
 * setup is open), is single use, and is replaced after too many wrong tries; the HTTP
 * layer also rate-limits attempts per address.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { UserRepository } from './db/users';

// No 0/O, 1/I/L: the code is read from a log and typed by a person.
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const CODE_LENGTH = 12; // 31^12 ≈ 2^59
export const MAX_WRONG_CODES = 10;

const digest = (code: string): Buffer => createHash('sha256').update(normalizeSetupCode(code)).digest();

/** Case, spaces and dashes do not matter when typing the code. */
export function normalizeSetupCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]+/g, '');
}

export class FirstRun {
  private codeHash: Buffer | null = null;
  private wrong = 0;

  constructor(
    private readonly users: UserRepository,
    private readonly logger: Logger,
    /** where the human-readable line goes (default: standard error, unless the log is silenced) */
    private readonly say: (line: string) => void = (line) => {
      if (logger.isLevelEnabled('warn')) process.stderr.write(line + '\n');
    },
  ) {}

  /** Setup is open while no enabled administrator exists (read fresh: another node or the CLI may add one). */
  async isOpen(): Promise<boolean> {
    return (await this.users.countAdmins()) === 0;
  }

  /** At start: if setup is open, print a code for the operator. */
  async announce(setupUrl: string): Promise<void> {
    if (await this.isOpen()) this.issue(setupUrl, 'no administrator exists yet');
  }

  /** When setup is open but this process holds no code (all admins were removed later, or the code was used). */
  ensureCode(setupUrl: string): void {
    if (!this.codeHash) this.issue(setupUrl, 'no administrator exists');
  }

  /**
   * Takes the code if `candidate` is right: it cannot be used twice, even by two requests
   * racing (this check and the take are one synchronous step). Returns a function that puts
   * it back, for when creating the admin then fails; null when the code is wrong.
   */
  take(candidate: string, setupUrl: string): (() => void) | null {
    const held = this.codeHash;
    if (!held || !timingSafeEqual(held, digest(candidate))) {
      if (held && ++this.wrong >= MAX_WRONG_CODES) this.issue(setupUrl, 'too many wrong setup codes: replaced');
      return null;
    }
    this.codeHash = null;
    return () => {
      this.codeHash ??= held;
    };
  }

  private issue(setupUrl: string, why: string): void {
    let code = '';
    for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    const shown = code.match(/.{4}/g)!.join('-');
    this.codeHash = digest(code);
    this.wrong = 0;
    // The one place a credential is logged, on purpose: the operator needs it to finish
    // the installation. It is single use and dies once the first admin exists.
    this.logger.warn(
      { setupUrl, setupCode: shown },
      `FIRST RUN (${why}): open ${setupUrl} and enter the one-time setup code ${shown} to create the first administrator. ` +
        'This code is an operator credential: do not share it.',
    );
    // The same, as a line a person reads in a terminal (the log above is JSON on stdout).
    const reason = why.startsWith('no administrator') ? '' : ` (${why})`;
    this.say(
      `applink: FIRST RUN${reason}: open ${setupUrl} and enter the one-time setup code ${shown} ` +
        'to create the first administrator',
    );
  }
}
