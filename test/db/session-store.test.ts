// The session store on both databases. express-session writes a session twice at sign-in
// (when asked, and again as the response ends); a browser that follows the redirect on
// its headers can have its next request's write land in between. The repeated, identical
// write must not erase that newer one (it used to, losing the CSRF token: "Form expired").
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import session from 'express-session';
import type { Database } from '../../src/db';
import { KnexSessionStore } from '../../src/db/session-store';
import { freshDatabase, type FreshDatabase } from '../helpers/db';
import { testDatabases } from '../helpers/server';

// Each save carries a slightly later cookie expiry, as express-session's do.
let tick = 0;
const sess = (extra: Record<string, unknown>) =>
  ({
    cookie: {
      originalMaxAge: 3_600_000,
      expires: new Date(Date.now() + 3_600_000 + ++tick).toISOString(),
      httpOnly: true,
      path: '/',
    },
    ...extra,
  }) as never;

describe.each(await testDatabases())('session store on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  let store: KnexSessionStore;
  beforeEach(async () => {
    fresh = await freshDatabase(kind);
    db = fresh.open();
    await db.migrate();
    store = new KnexSessionStore(db.knex);
  });
  afterEach(() => fresh.cleanup());

  const set = (s: session.Store, sid: string, data: never) =>
    new Promise<void>((resolve, reject) => s.set(sid, data, (e) => (e ? reject(e as Error) : resolve())));
  const stored = async (sid: string) =>
    JSON.parse(((await db.knex('sessions').where({ sid }).first()) as { sess: string }).sess) as Record<
      string,
      unknown
    >;

  it('a repeated identical write does not undo a newer one', async () => {
    await set(store, 'sid-1', sess({ userId: 1 })); // the sign-in's own save
    await set(store, 'sid-1', sess({ userId: 1, csrfToken: 'T' })); // the next page, same process
    expect(await stored('sid-1')).toMatchObject({ userId: 1, csrfToken: 'T' });

    // the next page handled by another node, then this node's late second save
    const other = new KnexSessionStore(db.knex);
    await set(store, 'sid-2', sess({ userId: 1 }));
    await set(other, 'sid-2', sess({ userId: 1, csrfToken: 'U' }));
    const late = sess({ userId: 1 }) as { cookie: { expires: string } };
    await set(store, 'sid-2', late as never);
    expect(await stored('sid-2')).toMatchObject({ userId: 1, csrfToken: 'U' });
    // it still extends the session's life
    const row = (await db.knex('sessions').where({ sid: 'sid-2' }).first()) as { expires_at: number | string };
    expect(Number(row.expires_at)).toBe(Date.parse(late.cookie.expires));
  });

  it('changed sessions are written, and a destroyed one is not brought back by a late write', async () => {
    await set(store, 'sid-3', sess({ userId: 1 }));
    await set(store, 'sid-3', sess({ userId: 2 }));
    expect(await stored('sid-3')).toMatchObject({ userId: 2 });
    await new Promise<void>((r) => store.destroy('sid-3', () => r()));
    expect(await db.knex('sessions').where({ sid: 'sid-3' }).first()).toBeUndefined();
    // a request still running when its user signed out ends, and saves
    await set(store, 'sid-3', sess({ userId: 2, flash: 'late' }));
    expect(await db.knex('sessions').where({ sid: 'sid-3' }).first()).toBeUndefined();
  });
});
