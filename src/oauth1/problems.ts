/**
 * The OAuth Problem Reporting extension's codes (oauth.net/wiki/ProblemReporting) that
 * applink answers with, and the one error class that carries them out of the core.
 * Serialisation to HTTP happens in exactly one place: src/http/errors.ts.
 */
export type ProblemCode =
  | 'parameter_absent'
  | 'parameter_rejected'
  | 'signature_method_rejected'
  | 'version_rejected'
  | 'consumer_key_unknown'
  | 'consumer_key_rejected'
  | 'signature_invalid'
  | 'timestamp_refused'
  | 'nonce_used'
  | 'token_rejected'
  | 'token_expired'
  | 'token_revoked'
  | 'verifier_invalid'
  | 'permission_denied'
  | 'permission_unknown';

export const PROBLEM_STATUS: Readonly<Record<ProblemCode, 400 | 401>> = Object.freeze({
  parameter_absent: 400,
  parameter_rejected: 400,
  signature_method_rejected: 400,
  version_rejected: 400,
  consumer_key_unknown: 401,
  consumer_key_rejected: 401,
  signature_invalid: 401,
  timestamp_refused: 401,
  nonce_used: 401,
  token_rejected: 401,
  token_expired: 401,
  token_revoked: 401,
  verifier_invalid: 401,
  permission_denied: 401,
  permission_unknown: 401,
});

const DEFAULT_ADVICE: Readonly<Record<ProblemCode, string>> = Object.freeze({
  parameter_absent: 'A required parameter is missing.',
  parameter_rejected: 'A parameter is malformed, repeated or not allowed here.',
  signature_method_rejected: 'This signature method is not accepted for this consumer or transport.',
  version_rejected: 'Only OAuth 1.0 is supported.',
  consumer_key_unknown: 'The consumer key is not known to this provider.',
  consumer_key_rejected: 'This consumer has been disabled.',
  signature_invalid: 'The signature does not match the request.',
  timestamp_refused: 'The timestamp is too far from the server clock.',
  nonce_used: 'This nonce has already been used with this timestamp.',
  token_rejected: 'The token is unknown, of the wrong kind, or belongs to another consumer.',
  token_expired: 'The token has expired.',
  token_revoked: 'The token has been revoked.',
  verifier_invalid: 'The verifier is wrong or has already been used.',
  permission_denied: 'Permission denied.',
  permission_unknown: 'The user has not yet decided whether to allow access.',
});

/** Extra Problem Reporting parameters that may accompany a problem. */
export interface ProblemDetails {
  advice?: string;
  /** `oauth_parameters_absent` */
  parametersAbsent?: readonly string[];
  /** `oauth_parameters_rejected` */
  parametersRejected?: readonly string[];
  /** `oauth_acceptable_timestamps` as [min, max] */
  acceptableTimestamps?: readonly [number, number];
  /** `oauth_acceptable_versions` */
  acceptableVersions?: string;
  /** `oauth_signature_base_string`: the server's base string, sent on signature_invalid */
  signatureBaseString?: string;
}

export class OAuthProblem extends Error {
  readonly status: 400 | 401;
  readonly advice: string;

  constructor(
    readonly code: ProblemCode,
    readonly details: ProblemDetails = {},
  ) {
    super(`${code}: ${details.advice ?? DEFAULT_ADVICE[code]}`);
    this.name = 'OAuthProblem';
    this.status = PROBLEM_STATUS[code];
    this.advice = details.advice ?? DEFAULT_ADVICE[code];
  }

  /** The form-encoded body parameters of the problem report, in a stable order. */
  toParams(): Array<[string, string]> {
    const d = this.details;
    const out: Array<[string, string]> = [
      ['oauth_problem', this.code],
      ['oauth_problem_advice', this.advice],
    ];
    if (d.parametersAbsent?.length) out.push(['oauth_parameters_absent', d.parametersAbsent.join('&')]);
    if (d.parametersRejected?.length) out.push(['oauth_parameters_rejected', d.parametersRejected.join('&')]);
    if (d.acceptableTimestamps)
      out.push(['oauth_acceptable_timestamps', `${d.acceptableTimestamps[0]}-${d.acceptableTimestamps[1]}`]);
    if (d.acceptableVersions) out.push(['oauth_acceptable_versions', d.acceptableVersions]);
    if (d.signatureBaseString !== undefined) out.push(['oauth_signature_base_string', d.signatureBaseString]);
    return out;
  }
}

export const isOAuthProblem = (e: unknown): e is OAuthProblem => e instanceof OAuthProblem;
