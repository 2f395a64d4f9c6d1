/**
 * First run: while no (enabled) administrator exists, /setup lets one person create the
 * first admin. It is guarded by a one-time setup code that only the operator sees, in the
 * server log. The code is kept (as a SHA-256) in the shared database (table `setup_code`,
 * migration 021), so every node checks against the same code and a code is taken once
 * across all of them. Each start while setup is open prints a fresh code (the newest code
 * printed by any node is the valid one). Wrong codes never replace or invalidate it: the
 * HTTP layer brakes wrong tries per address instead (src/services/brakes.ts), so a
 * stranger cannot take the operator's code away.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

// No 0/O, 1/I/L: the code is read from a log and typed by a person.
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const CODE_LENGTH = 12; // 31^12 ≈ 2^59

const digest = (code: string): string => createHash('sha256').update(normalizeSetupCode(code)).digest('hex');

/** Case, spaces and dashes do not matter when typing the code. */
export function normalizeSetupCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]+/g, '');
}

export class FirstRun {
  constructor(
    private readonly knex: Knex,
    /** enabled administrators, read fresh each time */
    private readonly countAdmins: () => Promise<number>,
    private readonly logger: Logger,
    /** where the human-readable line goes (default: standard error, unless the log is silenced) */
    private readonly say: (line: string) => void = (line) => {
      if (logger.isLevelEnabled('warn')) process.stderr.write(line + '\n');
    },
  ) {}

  /** Setup is open while no enabled administrator exists (read fresh: another node or the CLI may add one). */
  async isOpen(): Promise<boolean> {
    return (await this.countAdmins()) === 0;
  }

  /** At start: if setup is open, print a fresh code for the operator (it replaces any earlier one). */
  async announce(setupUrl: string): Promise<void> {
    if (!(await this.isOpen())) return;
    const code = newCode();
    await this.store(digest(code), 'replace');
    this.log(setupUrl, code, 'no administrator exists yet');
  }

  /** When setup is open but no code exists (all admins were removed later, or the code was used). */
  async ensureCode(setupUrl: string): Promise<void> {
    const code = newCode();
    // printed only when this one went in: a code already there (this node's or another's) stays
    if (await this.store(digest(code), 'unless-one-exists')) this.log(setupUrl, code, 'no administrator exists');
  }

  /** Stores the code's hash as the one code; false when one existed and was kept. */
  private async store(hash: string, existing: 'replace' | 'unless-one-exists'): Promise<boolean> {
    const insert = this.knex('setup_code').insert({ id: 1, code_hash: hash, issued_at: Date.now() }).onConflict('id');
    const rows: unknown[] = await (existing === 'replace' ? insert.merge() : insert.ignore()).returning('id');
    return rows.length > 0;
  }

  /**
   * Takes the code if `candidate` is right: one delete, so it cannot be used twice, even
   * by two requests (or two nodes) racing. Returns a function that puts it back, for when
   * creating the admin then fails; null when the code is wrong (which changes nothing).
   */
  async take(candidate: string): Promise<(() => Promise<void>) | null> {
    const hash = digest(candidate);
    const taken = await this.knex('setup_code').where({ id: 1, code_hash: hash }).delete();
    if (taken !== 1) return null;
    // (a code another node printed meanwhile is newer, and stays: the newest printed is valid)
    return async () => {
      await this.store(hash, 'unless-one-exists');
    };
  }

  private log(setupUrl: string, code: string, why: string): void {
    const shown = (code.match(/.{4}/g) ?? [code]).join('-');
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

function newCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET.charAt(randomInt(ALPHABET.length));
  return code;
}
