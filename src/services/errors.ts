/**
 * The one error for management actions (everything that is not the OAuth protocol, which
 * has OAuthProblem): a stable `code` from a closed union, a message for people, and, for
 * input errors, a message per field. It is turned into a response in exactly one place per
 * surface: src/http/service-errors.ts (pages and JSON) and src/cli/index.ts (one line on
 * stderr, exit code 1).
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
  | 'refused';

/** HTTP status per code: the one mapping the pages and the JSON answers share. */
export const SERVICE_ERROR_STATUS: Readonly<Record<ServiceErrorCode, number>> = Object.freeze({
  invalid_input: 400,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  refused: 400,
});

export class ServiceError extends Error {
  override readonly name = 'ServiceError';

  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    /** field name -> what is wrong with it (input errors) */
    readonly fields: Readonly<Record<string, string>> = {},
  ) {
    super(message);
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
