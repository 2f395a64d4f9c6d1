// Token credentials out of a form-encoded answer (request-token, access-token, renewal).
import { must } from './must';

/** oauth_token and oauth_token_secret of an answer's parameters, or a failure that names the missing one. */
export function credentialsOf(params: Record<string, string>, what = 'token'): { token: string; secret: string } {
  return {
    token: must(params.oauth_token, `the ${what} (oauth_token)`),
    secret: must(params.oauth_token_secret, `the ${what} secret (oauth_token_secret)`),
  };
}
