/**
 * What the browser layer learns about one request, kept on that request's res.locals
 * under a symbol: views never see it (Express passes only string keys of res.locals to
 * templates), and nothing outlives the request.
 */
import type { Request } from 'express';
import type { UserRecord } from '../../oauth1/ports';
import type { RefusalReason } from '../../sso';

export interface WebLocals {
  /** the signed-in user, once resolved (null: nobody) */
  viewer?: UserRecord | null;
  /** why this request's single-sign-on assertion was refused, for the sign-in page */
  ssoRefused?: RefusalReason;
}

const WEB = Symbol('applink web state');

export const webLocals = (req: Request): WebLocals => {
  const res = req.res;
  // Express links every request it routes to its response; the browser layer sees no other
  if (!res) throw new Error('webLocals: a request without its response');
  const locals = res.locals as unknown as Record<symbol, WebLocals | undefined>;
  return (locals[WEB] ??= {});
};
