/**
 * Pages: one EJS layout around every view, and the presenters that turn records into
 * the plain strings views print (views hold no logic beyond escaped output and loops).
 */
import ejs from 'ejs';
import { join } from 'node:path';

type EngineCallback = (err: Error | null, html?: string) => void;

/**
 * An Express view engine: renders the view, then `layout.ejs` with the view's HTML as
 * `body`. Every page shares the one layout (header, navigation, stylesheet).
 */
export function layoutEngine(viewsDir: string) {
  const layout = join(viewsDir, 'layout.ejs');
  return (file: string, options: object, cb: EngineCallback): void => {
    ejs.renderFile(file, options as ejs.Data, (err, body) => {
      if (err) return cb(err);
      ejs.renderFile(layout, { ...(options as ejs.Data), body }, cb);
    });
  };
}

export interface When {
  /** machine-readable, for <time datetime> */
  iso: string;
  /** for people: `24 Nov 2025, 13:05 UTC` */
  text: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** A time for a page; null stays null (the view prints "never"). */
export function when(ms: number, opts?: { seconds?: boolean }): When;
export function when(ms: number | null | undefined, opts?: { seconds?: boolean }): When | null;
export function when(ms: number | null | undefined, opts: { seconds?: boolean } = {}): When | null {
  if (ms === null || ms === undefined) return null;
  const d = new Date(ms);
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${opts.seconds ? `:${pad(d.getUTCSeconds())}` : ''}`;
  return {
    iso: d.toISOString(),
    text: `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()] ?? ''} ${d.getUTCFullYear()}, ${time} UTC`,
  };
}

/** The origin a callback sends people back to, or null for `oob`. */
export function callbackOrigin(callback: string): string | null {
  if (callback === 'oob') return null;
  try {
    return new URL(callback).origin;
  } catch {
    return null;
  }
}

/** `1 live authorization`, `2 live authorizations`: the noun for a count (the count itself is printed apart). */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return n === 1 ? singular : pluralForm;
}

/** How a person is named on a page: `Alice Liddell (alice)`, or just `alice` when the display name is the username. */
export function personName(u: { username: string; displayName: string | null | undefined }): string {
  const name = u.displayName?.trim();
  return !name || name === u.username ? u.username : `${name} (${u.username})`;
}

/** Helpers every view may call (presentation only; app.locals). */
export const viewHelpers = { plural, personName } as const;
