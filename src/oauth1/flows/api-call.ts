/** A protected-resource request (RFC 5849 §3): signed with an access token, acts for its user. */
import { verifySignedRequest, type Verified } from './verify-request';
import type { FlowDeps } from '../ports';
import type { RequestParts } from '../params';

export function authenticateApiCall(parts: RequestParts, ip: string, deps: FlowDeps): Promise<Verified<'access'>> {
  return verifySignedRequest(parts, 'access', ip, deps);
}
