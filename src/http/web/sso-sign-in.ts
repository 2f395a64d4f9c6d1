/**
 * Single sign-on on browser requests: the proxy's assertion (header, else cookie) names
 * the user; src/sso verifies it and finds the local user. This module keeps the session
 * consistent with it.
 */
import type { Request } from 'express';
import type { Wiring } from '../../wiring';
import type { UserRecord } from '../../oauth1/ports';
import type { SingleSignOn } from '../../sso';
import { cookieValue } from './cookies';
import { webLocals } from './state';
import { startSession } from './session-start';

/** The proxy's assertion: its header, else its cookie. */
export function assertionOf(req: Request, sso: SingleSignOn): string | null {
  const header = req.headers[sso.header];
  if (typeof header === 'string' && header.trim()) return header.trim();
  return cookieValue(req, sso.cookie);
}

/**
 * With single sign-on, the user a valid proxy assertion names (a session is then
 * established under a new id), else `fromSession`; the rules and the audit entries are the
 * sign-in service's (src/services/sign-in.ts `withAssertion`). Only a page view may change
 * who is signed in.
 */
export async function ssoUser(req: Request, s: Wiring, fromSession: UserRecord | null): Promise<UserRecord | null> {
  const assertion = s.sso ? assertionOf(req, s.sso) : null;
  if (!s.sso || !assertion) return fromSession;
  const result = await s.signIn.withAssertion(
    s.sso,
    {
      assertion,
      ip: req.ip ?? null,
      current: fromSession,
      mayChangeUser: req.method === 'GET' || req.method === 'HEAD',
    },
    (user) => startSession(req, s.users, user),
  );
  if (result.refused !== undefined) {
    webLocals(req).ssoRefused = result.refused;
    // The reason only: the assertion is a bearer credential.
    s.logger.warn(
      { reqId: req.res?.locals.reqId as string | undefined, reason: result.refused },
      'sso assertion refused',
    );
  }
  return result.user;
}
