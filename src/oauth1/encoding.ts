/**
 * Percent-encoding as RFC 5849 §3.6 defines it, and the two decodings a request uses:
 * `application/x-www-form-urlencoded` (query and body, `+` is a space) and the plain
 * percent-decoding of Authorization header values (§3.5.1, `+` stays `+`).
 */
import { OAuthProblem } from './problems';

// RFC 3986 unreserved characters: ALPHA / DIGIT / "-" / "." / "_" / "~"
const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;

/** §3.6: UTF-8 encode, then escape every byte outside the unreserved set as %XX (upper-case). */
export function percentEncode(value: string): string {
  if (UNRESERVED.test(value)) return value; // the common case: tokens, nonces, timestamps
  // encodeURIComponent leaves !*'() alone and throws on lone surrogates; fix both.
  let out: string;
  try {
    out = encodeURIComponent(value);
  } catch {
    throw new OAuthProblem('parameter_rejected', { advice: 'A parameter is not valid UTF-8.' });
  }
  return out.replace(/[!*'()]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const PERCENT_SEQUENCE = /%(?![0-9A-Fa-f]{2})/;

/**
 * Strict percent-decoding: a `%` not followed by two hex digits, or bytes that are not
 * valid UTF-8, are a malformed request (parameter_rejected), never a silent guess.
 */
export function percentDecode(value: string): string {
  if (value.indexOf('%') === -1) return value;
  if (PERCENT_SEQUENCE.test(value)) {
    throw new OAuthProblem('parameter_rejected', { advice: 'A parameter has a malformed percent-encoding.' });
  }
  try {
    return decodeURIComponent(value);
  } catch {
    throw new OAuthProblem('parameter_rejected', { advice: 'A parameter is not valid UTF-8.' });
  }
}

/** Form decoding (HTML `application/x-www-form-urlencoded`): `+` is a space. */
export function formDecode(value: string): string {
  return percentDecode(value.indexOf('+') === -1 ? value : value.replace(/\+/g, ' '));
}

/**
 * Splits an `application/x-www-form-urlencoded` string (a query or a body) into decoded
 * pairs in their original order. Empty segments (`a=1&&b=2`) are skipped; a name with no
 * `=` has an empty value; only the first `=` separates name from value. More than
 * `maxPairs` segments is parameter_rejected, checked before anything is decoded.
 */
export function parseForm(input: string, maxPairs = Infinity): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (input === '') return pairs;
  const parts = input.split('&');
  if (parts.length > maxPairs) {
    throw new OAuthProblem('parameter_rejected', { advice: `At most ${maxPairs} parameters are accepted.` });
  }
  for (const part of parts) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) pairs.push([formDecode(part), '']);
    else pairs.push([formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
  }
  return pairs;
}

/** Encodes pairs as a form body / query with the §3.6 encoding (also used in responses). */
export function formatForm(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
}

/** True when the string holds a C0 control character or DEL (NUL included). */
export function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
