/**
 * Which application sent a person to the sign-in page: when `next` is the consent page of
 * a request token that can still be decided on, the sign-in page names its consumer, so
 * the person knows why they are asked to sign in (and by whom) before they type a password.
 */
import { findPendingAuthorization } from '../oauth1/flows/authorize';
import { OAuthProblem } from '../oauth1/problems';
import type { Wiring } from '../wiring';

/** The consent page, under applink's own paths and Atlassian's. */
const AUTHORIZE_PATHS = ['/oauth/authorize', '/plugins/servlet/oauth/authorize'];

/** The consumer's name for a `next` (already passed through safeNext), or null for any other `next`. */
export async function requestingApp(s: Wiring, next: string): Promise<string | null> {
  const url = new URL(next, 'http://next.invalid');
  if (!AUTHORIZE_PATHS.some((p) => url.pathname === `${s.config.basePath}${p}`)) return null;
  const token = url.searchParams.get('oauth_token');
  if (!token) return null;
  return findPendingAuthorization(token, s).then(
    (p) => p.consumer.name,
    // unknown, answered, expired or disabled: the consent page says so after sign-in
    (e: unknown) => (e instanceof OAuthProblem ? null : Promise.reject(e as Error)),
  );
}
