/**
 * The one error for everything that is not the OAuth protocol (which has OAuthProblem):
 * management actions, the configuration, the database tools (key rotation and repair, the
 * copy to PostgreSQL), the SSO key set. A stable `code` from a closed union, a message for
 * people, and, for input errors, a message per field (for `config_invalid`: the variable).
 * It is turned into output in exactly one place per surface: src/http/service-errors.ts
 * (pages and JSON), src/cli/index.ts `main()` (one line on stderr, exit code 1) and
 * src/main.ts `oneLine()` (the server's start).
 *
 * This module imports nothing, so every layer may throw it (except the protocol core,
 * src/oauth1/, which speaks OAuthProblem only).
 */

export type ServiceErrorCode =
  /** the input does not have the right shape (a field is missing, too long, malformed) */
  | 'invalid_input'
  /** the thing acted on does not exist (or the actor may not know that it does) */
  | 'not_found'
  /** the change would collide with what exists (a duplicate key, username or email) */
  | 'conflict'
  /** the actor may not do this (not an administrator, or it would lock them out) */
  | 'forbidden'
  /** the input is well-formed but the action cannot be done in the current state */
  | 'refused'
  /**
   * a setting is wrong (an APPLINK_* variable, a database URL given to the CLI, a port that
   * cannot be bound); `fields` names the variable. The operator must fix it: never the
   * visitor's fault, so a page shows no detail.
   */
  | 'config_invalid'
  /** something this depends on cannot be reached right now (the SSO key set); try again later */
  | 'unavailable'
  /** too many attempts (a brute-force brake): try again after `fields.retryAfter` seconds */
  | 'throttled';

/**
 * HTTP status per code: the one mapping the pages and the JSON answers share (a Record, so
 * a new code does not compile until it has a status). The 5xx codes are the server's fault,
 * not the request's; their page says so without the message.
 */
export const SERVICE_ERROR_STATUS: Readonly<Record<ServiceErrorCode, number>> = Object.freeze({
  invalid_input: 400,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  refused: 400,
  config_invalid: 500,
  unavailable: 503,
  throttled: 429,
});

export class ServiceError extends Error {
  override readonly name = 'ServiceError';

  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    /** field name -> what is wrong with it (input errors; for config_invalid, the variable) */
    readonly fields: Readonly<Record<string, string>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get httpStatus(): number {
    return SERVICE_ERROR_STATUS[this.code];
  }

  /** The JSON body (also what `--json` prints on the CLI). */
  toJSON(): { error: ServiceErrorCode; message: string; fields?: Record<string, string> } {
    return {
      error: this.code,
      message: this.message,
      ...(Object.keys(this.fields).length > 0 && { fields: { ...this.fields } }),
    };
  }
}

export const invalidInput = (message: string, field?: string): ServiceError =>
  new ServiceError('invalid_input', message, field ? { [field]: message } : {});
export const notFound = (message: string): ServiceError => new ServiceError('not_found', message);
export const conflict = (message: string): ServiceError => new ServiceError('conflict', message);
export const forbidden = (message: string): ServiceError => new ServiceError('forbidden', message);
export const refused = (message: string): ServiceError => new ServiceError('refused', message);

/** A wrong setting: the message is `VARIABLE: what is wrong`, and `fields` names the variable. */
export const configInvalid = (variable: string, message: string): ServiceError =>
  new ServiceError('config_invalid', `${variable}: ${message}`, { [variable]: message });
/** Something this depends on cannot be reached now; `cause` says why (for the log, never shown). */
export const unavailable = (message: string, cause?: unknown): ServiceError =>
  new ServiceError('unavailable', message, {}, { cause });

/** A brake refused the attempt: `retryAfterS` seconds until the next one may be tried. */
export const throttled = (message: string, retryAfterS: number): ServiceError =>
  new ServiceError('throttled', message, { retryAfter: String(retryAfterS) });

/** The variable a `config_invalid` error names, or undefined for any other error. */
export function configVariable(e: unknown): string | undefined {
  return e instanceof ServiceError && e.code === 'config_invalid' ? Object.keys(e.fields)[0] : undefined;
}
