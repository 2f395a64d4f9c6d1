/** express-session's store in the shared database, so sessions hold across nodes. */
import session from 'express-session';
import type { Knex } from 'knex';

const DAY = 86_400_000;
/** marks a session id this process destroyed (no JSON text equals it) */
const DESTROYED = '\u0000destroyed';

/**
 * The session's cookie as a store sees it: express-session's Cookie, or the same read back
 * from JSON (Cookie.toJSON: `expires` an ISO date, null for a browser-session cookie).
 * `expires` is read here, never set (setting it is what express-session deprecates).
 */
interface StoredCookie {
  expires?: Date | string | null;
}

/** When the session's cookie expires (ms since the epoch), else a day from now. */
function expiryOf(sess: session.SessionData): number {
  const cookie = sess.cookie as StoredCookie | undefined;
  return cookie?.expires ? new Date(cookie.expires).getTime() : Date.now() + DAY;
}

export class KnexSessionStore extends session.Store {
  /**
   * What this process last wrote per session. express-session writes a regenerated session
   * (sign-in) twice: when asked, and again when the response ends; the browser may follow
   * the redirect on the headers alone, and its next request's write (a CSRF token) can land
   * between the two and be erased by the second, identical one. A write whose content equals
   * this process's last one for the session therefore only extends its expiry: rewriting it
   * could add nothing, only undo someone else's newer write. Likewise a late write for a session this process
   * destroyed (sign-out, or the old id at sign-in) is skipped instead of bringing it back.
   */
  private readonly lastWritten = new Map<string, string>();

  constructor(private readonly knex: Knex) {
    super();
  }

  override get(sid: string, cb: (err: unknown, session?: session.SessionData | null) => void): void {
    this.knex('sessions')
      .where({ sid })
      .where('expires_at', '>', Date.now())
      .first('sess')
      .then(
        (row: { sess: string } | undefined) => cb(null, row ? (JSON.parse(row.sess) as session.SessionData) : null),
        cb,
      );
  }

  override set(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    const json = JSON.stringify(sess);
    // what the session holds, apart from its cookie's expiry (which moves on every save)
    const content = JSON.stringify({ ...sess, cookie: undefined });
    const last = this.lastWritten.get(sid);
    if (last === DESTROYED) return cb?.();
    if (last === content) return this.touch(sid, sess, cb);
    const expires = expiryOf(sess);
    this.knex('sessions')
      .insert({ sid, sess: json, expires_at: expires })
      .onConflict('sid')
      .merge()
      .then(
        () => {
          // destroyed meanwhile: the tombstone stays
          if (this.lastWritten.get(sid) !== DESTROYED) this.remember(sid, content);
          cb?.();
        },
        (e: unknown) => cb?.(e),
      );
  }

  private remember(sid: string, value: string): void {
    if (this.lastWritten.size >= 10_000) this.lastWritten.clear();
    this.lastWritten.set(sid, value);
  }

  override touch(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    const expires = expiryOf(sess);
    this.knex('sessions')
      .where({ sid })
      .update({ expires_at: expires })
      .then(
        () => cb?.(),
        (e: unknown) => cb?.(e),
      );
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.remember(sid, DESTROYED);
    this.knex('sessions')
      .where({ sid })
      .delete()
      .then(
        () => cb?.(),
        (e: unknown) => cb?.(e),
      );
  }
}
