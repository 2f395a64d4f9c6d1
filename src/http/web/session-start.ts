/**
 * Starting a signed-in session and saving one: below session.ts (password and setup
 * sign-in) and sso-sign-in.ts (the proxy's assertion), which both start sessions.
 */
import type { Request } from 'express';
import type { Wiring } from '../../wiring';
import type { UserRecord } from '../../oauth1/ports';
import { errorMessage } from '../../error-message';
import { webLocals } from './state';

/** What a session remembers of its user: who, and under which session generation. */
export async function sessionMark(
  users: Pick<Wiring['users'], 'findForSession'>,
  user: UserRecord,
): Promise<{ userId: number; generation: number }> {
  const found = await users.findForSession(user.id);
  return { userId: user.id, generation: found?.generation ?? 0 };
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(errorMessage(e)));

/**
 * Writes the session now, not when the answer ends: express-session sends a redirect's
 * head before its own save, and a browser following it at once must find the session there.
 */
export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.save((e: unknown) => (e ? reject(asError(e)) : resolve()));
  });
}

/** Signs `user` in on a fresh session id (an id planted before sign-in is worthless), saved before it returns. */
export async function startSession(
  req: Request,
  users: Pick<Wiring['users'], 'findForSession'>,
  user: UserRecord,
): Promise<void> {
  const mark = await sessionMark(users, user);
  await new Promise<void>((resolve, reject) => {
    req.session.regenerate((e: unknown) => (e ? reject(asError(e)) : resolve()));
  });
  req.session.userId = mark.userId;
  req.session.generation = mark.generation;
  webLocals(req).viewer = user;
  await saveSession(req);
}
