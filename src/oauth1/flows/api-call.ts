/** A protected-resource request (RFC 5849 §3): signed with an access token, acts for its user. */
import { verifySignedRequest, type Verified } from './verify-request';
import type { FlowDeps } from '../ports';
import type { CollectedParams, RequestParts } from '../params';

/**
 * `params`: the request's parameters when the caller has already collected them from these
 * same parts (the gateway does, to decide whether the body must be read); never parameters
 * collected before a form body was read.
 */
export function authenticateApiCall(
  parts: RequestParts,
  ip: string,
  deps: FlowDeps,
  params?: CollectedParams,
): Promise<Verified<'access'>> {
  return verifySignedRequest(parts, 'access', ip, deps, params === undefined ? undefined : { params });
}
