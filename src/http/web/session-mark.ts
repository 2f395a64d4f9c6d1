/** What a session remembers of its user (src/http/web/session.ts checks it on every page). */
import type { Wiring } from '../../wiring';
import type { UserRecord } from '../../oauth1/ports';

/** What a session remembers of its user: who, and under which session generation. */
export async function sessionMark(
  users: Pick<Wiring['users'], 'findForSession'>,
  user: UserRecord,
): Promise<{ userId: number; generation: number }> {
  const found = await users.findForSession(user.id);
  return { userId: user.id, generation: found?.generation ?? 0 };
}
