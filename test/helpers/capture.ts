// The part of a text a test looks for, or a failure that says what was missing.
import { must } from './must';

/** The first capture group of `re` in `text`; fails naming `what` when `re` does not match. */
export function capture(re: RegExp, text: string, what: string): string {
  return must(re.exec(text)?.[1], what);
}
