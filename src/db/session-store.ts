/** express-session's store in the shared database, so sessions hold across nodes. */
import session from 'express-session';
import type { Knex } from 'knex';

const DAY = 86_400_000;

export class KnexSessionStore extends session.Store {
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
    const expires = sess.cookie?.expires ? new Date(sess.cookie.expires).getTime() : Date.now() + DAY;
    this.knex('sessions')
      .insert({ sid, sess: JSON.stringify(sess), expires_at: expires })
      .onConflict('sid')
      .merge()
      .then(
        () => cb?.(),
        (e: unknown) => cb?.(e),
      );
  }

  override touch(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    const expires = sess.cookie?.expires ? new Date(sess.cookie.expires).getTime() : Date.now() + DAY;
    this.knex('sessions')
      .where({ sid })
      .update({ expires_at: expires })
      .then(
        () => cb?.(),
        (e: unknown) => cb?.(e),
      );
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.knex('sessions')
      .where({ sid })
      .delete()
      .then(
        () => cb?.(),
        (e: unknown) => cb?.(e),
      );
  }
}
