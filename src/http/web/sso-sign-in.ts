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
import { brakesFor } from './brakes';
import { webLocals } from './state';

/** The proxy's assertion: its header, else its cookie. */
export function assertionOf(req: Request, sso: SingleSignOn): string | null {
  const header = req.headers[sso.header];
  if (typeof header === 'string' && header.trim()) return header.trim();
  return cookieValue(req, sso.cookie);
}

const regenerate = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));

/**
 * With single sign-on, the user a valid proxy assertion names (a session is then
 * established under a new id), else `fromSession`. A valid assertion for someone else
 * replaces the session's user on a page view (a shared browser whose proxy sign-in
 * changed) and signs no one in on a form post (never switch identity between a page and
 * its form). A refused assertion signs no one in and no one out; refusals are sampled
 * into the audit log (a flood of bad assertions adds a handful of rows).
 */
export async function ssoUser(req: Request, s: Wiring, fromSession: UserRecord | null): Promise<UserRecord | null> {
  const assertion = s.sso ? assertionOf(req, s.sso) : null;
  if (!s.sso || !assertion) return fromSession;
  const outcome = await s.sso.signIn(assertion);
  if (!outcome.ok) {
    if (fromSession) return fromSession;
    webLocals(req).ssoRefused = outcome.reason;
    // The reason only: the assertion is a bearer credential.
    s.logger.warn(
      { reqId: req.res?.locals.reqId as string | undefined, reason: outcome.reason },
      'sso assertion refused',
    );
    await brakesFor(s).sampledAudit(`sso.refused:${outcome.reason}`, {
      event: 'sso.refused',
      actorUserId: outcome.userId ?? null,
      ip: req.ip ?? null,
      detail: { reason: outcome.reason },
    });
    return null;
  }
  if (fromSession?.id === outcome.user.id) return fromSession;
  if (req.method !== 'GET' && req.method !== 'HEAD') return null;
  await regenerate(req);
  req.session.userId = outcome.user.id;
  await s.store.audit({
    event: 'sso.login',
    actorUserId: outcome.user.id,
    ip: req.ip ?? null,
    detail: outcome.provisioned ? { provisioned: true } : fromSession ? { replaced: fromSession.username } : {},
  });
  return outcome.user;
}
