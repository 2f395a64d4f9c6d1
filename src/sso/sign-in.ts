/**
 * From a verified email to a local user: the user with that email, or, with
 * auto-provisioning, a new one (no password; username derived from the email and made
 * unique). A disabled user is refused.
 */
import { randomBytes } from 'node:crypto';
import type { UserRecord } from '../oauth1/ports';
import type { RefusalReason } from './verifier';

/** What sign-in needs from the user store (src/db/users.ts UserRepository fits). */
export interface SsoUsers {
  findByEmail(email: string): Promise<UserRecord | null>;
  findByUsername(username: string): Promise<UserRecord | null>;
  create(u: { username: string; email: string; displayName?: string | undefined }): Promise<UserRecord>;
}

export type Resolved =
  { ok: true; user: UserRecord; provisioned: boolean } | { ok: false; reason: RefusalReason; userId?: number };

const USERNAME_MAX = 64;

/** `Zoë.O'Brien+wiki@example.com` -> `zo-.o-brien-wiki`: the username alphabet, lower case. */
export function usernameFromEmail(email: string): string {
  const local = email.slice(0, email.lastIndexOf('@')).toLowerCase();
  const cleaned = local
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, USERNAME_MAX);
  return cleaned || 'user';
}

export async function resolveUser(
  identity: { email: string; name: string | null },
  users: SsoUsers,
  autoProvision: boolean,
): Promise<Resolved> {
  const found = await users.findByEmail(identity.email);
  if (found) return found.disabled ? { ok: false, reason: 'user_disabled', userId: found.id } : okUser(found, false);
  if (!autoProvision) return { ok: false, reason: 'unknown_user' };

  const base = usernameFromEmail(identity.email);
  const candidates = [base, ...Array.from({ length: 8 }, (_, i) => `${base}-${i + 2}`)];
  candidates.push(`${base}-${randomBytes(4).toString('hex')}`);
  for (const username of candidates) {
    if (await users.findByUsername(username)) continue;
    try {
      const user = await users.create({ username, email: identity.email, displayName: identity.name ?? base });
      return okUser(user, true);
    } catch (e) {
      // A concurrent first sign-in of the same person, or of another with the same
      // username: the email decides which.
      const raced = await users.findByEmail(identity.email);
      if (raced)
        return raced.disabled ? { ok: false, reason: 'user_disabled', userId: raced.id } : okUser(raced, false);
      if ((e as Error).name !== 'DuplicateError') throw e;
    }
  }
  throw new Error('no free username for an auto-provisioned user');
}

const okUser = (user: UserRecord, provisioned: boolean): Resolved => ({ ok: true, user, provisioned });
