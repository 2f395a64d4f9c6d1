/**
 * One schema per kind of field, shared by every edge that takes input from people: the
 * admin console and setup forms, the CLI options and single sign-on. Each schema checks
 * and normalises once; a refusal is a ServiceError('invalid_input') with a message per
 * field (parseInput), never a database error later.
 *
 * Every text field refuses control characters (NUL, C0, DEL, C1; multi-line fields allow
 * tab and newlines), lone surrogates and, on one-line fields, the Unicode line separators
 * and bidirectional overrides; every field has an upper bound that fits its column on
 * SQLite and PostgreSQL alike.
 */
import { parseConsumerPublicKey } from './oauth1/consumer-key';
import { z } from 'zod';
import { ServiceError } from './errors';

export const FIELD_LIMITS = Object.freeze({
  username: 150,
  email: 320,
  emailLocalPart: 64,
  displayName: 200,
  passwordMin: 8,
  passwordMax: 1024,
  consumerKey: 255,
  consumerName: 200,
  description: 2000,
  callbackUrl: 2000,
  publicKeyPem: 65_536,
  filter: 255,
  setupCode: 100,
});

/** C0, DEL, C1 controls and lone surrogates: never in any stored text. */
const CONTROL = /[\p{Cc}\p{Cs}]/u;
/** The same, except tab, CR and LF (multi-line text: descriptions, PEM). */
const CONTROL_MULTILINE = /(?![\t\n\r])[\p{Cc}]|\p{Cs}/u;
/** One-line text also refuses line/paragraph separators and bidi embeddings/overrides/isolates. */
const CONTROL_ONE_LINE = /[\p{Cc}\p{Cs}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

export const hasControlCharacters = (s: string, multiline = false): boolean =>
  (multiline ? CONTROL_MULTILINE : CONTROL_ONE_LINE).test(s);

/** A refusal inside a field check (the message says what is wrong, for people). */
class Refusal {
  constructor(readonly message: string) {}
}
const refuse = (message: string): Refusal => new Refusal(message);

/** A string field: `check` returns the normalised value or a Refusal. */
function field<T>(label: string, check: (v: string) => T | Refusal) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `${label} is required` : `${label} must be text`) })
    .transform((v, ctx): T => {
      const r = check(v);
      if (r instanceof Refusal) {
        ctx.issues.push({ code: 'custom', message: r.message, input: v });
        return z.NEVER;
      }
      return r;
    });
}

/** One-line text: trimmed, no control characters, within `max` (and at least `min`) characters. */
function oneLine(label: string, v: string, max: number, min = 0): string | Refusal {
  if (v.length > max * 4) return refuse(`${label} must be at most ${max} characters`);
  if (CONTROL_ONE_LINE.test(v)) return refuse(`${label} must not contain control characters`);
  const t = v.trim();
  if (t.length < min || t.length > max)
    return refuse(min > 0 ? `${label} must be ${min}-${max} characters` : `${label} must be at most ${max} characters`);
  return t;
}

// ---- people ---------------------------------------------------------------------------

export const USERNAME_SHAPE = /^[A-Za-z0-9._@-]{1,150}$/;

/** Letters, digits and `. _ @ -`, 1-150 characters; surrounding spaces are dropped. */
export const usernameField = field('the username', (v) => {
  const t = v.length <= 1000 ? v.trim() : v;
  return USERNAME_SHAPE.test(t) ? t : refuse('the username may use letters, digits and . _ @ - (at most 150)');
});

/**
 * Email addresses have one normal form, so that two spellings of one address find one
 * account and two different addresses never become one:
 *
 * - surrounding ASCII white space is dropped;
 * - ASCII letters are lower-cased, and nothing else is folded (no Unicode case folding:
 *   `toLowerCase()` would turn U+212A KELVIN SIGN into `k`, U+0130 into `i̇`);
 * - an address that is not already in NFKC is refused: that refuses compatibility
 *   characters (KELVIN SIGN, fullwidth letters, `ſ`, ligatures …) and non-NFC spellings,
 *   the characters another system might silently fold into an ASCII letter;
 * - control, format (zero-width, bidi), separator, private-use and unassigned characters
 *   and white space inside are refused;
 * - exactly one `@`, a local part of 1-64 and a whole of at most 320 characters.
 *
 * Other non-ASCII letters (`zoë@example.com`) are kept exactly as written.
 */
export function normaliseEmail(raw: string): string | null {
  const r = checkEmail(raw);
  return r instanceof Refusal ? null : r;
}

const EMAIL_REFUSED_CHARS = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}\s]/u;

function checkEmail(raw: string): string | Refusal {
  const invalid = refuse('the email address is not valid');
  if (raw.length > FIELD_LIMITS.email * 4) return invalid;
  const t = raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  if (t.length === 0 || t.length > FIELD_LIMITS.email) return invalid;
  if (EMAIL_REFUSED_CHARS.test(t)) return refuse('the email address must not contain spaces or control characters');
  if (t.normalize('NFKC') !== t)
    return refuse('the email address contains a compatibility character (write it with plain letters)');
  const at = t.indexOf('@');
  if (at < 1 || at !== t.lastIndexOf('@') || at === t.length - 1 || at > FIELD_LIMITS.emailLocalPart) return invalid;
  return t.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

export const emailField = field('the email address', checkEmail);

/** 1-200 characters, one line. */
export const displayNameField = field('the display name', (v) => {
  const t = oneLine('the display name', v, FIELD_LIMITS.displayName);
  if (t instanceof Refusal) return t;
  return t === '' ? refuse('the display name must not be empty') : t;
});

/** A new password: 8-1024 characters, no control characters; not trimmed. */
export const passwordField = field('the password', (v) => {
  if (v.length < FIELD_LIMITS.passwordMin)
    return refuse(`the password must be at least ${FIELD_LIMITS.passwordMin} characters`);
  if (v.length > FIELD_LIMITS.passwordMax) return refuse('the password is too long');
  if (CONTROL.test(v)) return refuse('the password must not contain control characters');
  return v;
});

// ---- consumers ------------------------------------------------------------------------

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

/** 1-255 printable ASCII characters without spaces; surrounding spaces are dropped. */
export const consumerKeyField = field('the consumer key', (v) => {
  const t = v.length <= 1000 ? v.trim() : v;
  return KEY_SHAPE.test(t) ? t : refuse('the consumer key must be 1-255 printable ASCII characters without spaces');
});

/** 1-200 characters, one line. */
export const consumerNameField = field('the name', (v) => {
  const t = oneLine('the name', v, FIELD_LIMITS.consumerName);
  if (t instanceof Refusal) return t;
  return t === '' ? refuse('the name must be 1-200 characters') : t;
});

/** Free text over several lines (tab and newlines allowed), at most 2000 characters. */
export const descriptionField = field('the description', (v) => {
  if (CONTROL_MULTILINE.test(v)) return refuse('the description must not contain control characters');
  const t = v.trim();
  return t.length > FIELD_LIMITS.description
    ? refuse(`the description must be at most ${FIELD_LIMITS.description} characters`)
    : t;
});

/**
 * A registered callback: an absolute http(s) URL without credentials (request-token
 * callbacks must then fall under it); '' means none (null). `oob` is not a registration.
 */
export const callbackUrlField = field('the callback', (v): string | null | Refusal => {
  const wrong = refuse('the callback must be an absolute http(s) URL');
  if (v.length > FIELD_LIMITS.callbackUrl * 2) return wrong;
  if (CONTROL_ONE_LINE.test(v)) return refuse('the callback must not contain control characters');
  const t = v.trim();
  if (t === '') return null;
  if (t.length > FIELD_LIMITS.callbackUrl)
    return refuse(`the callback must be at most ${FIELD_LIMITS.callbackUrl} characters`);
  let url: URL;
  try {
    url = new URL(t);
  } catch {
    return wrong;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return wrong;
  if (url.username || url.password) return refuse('the callback must not carry credentials');
  return t;
});

/** An RSA public key or certificate in PEM form; '' means none (null). */
export const publicKeyPemField = field('the public key', (v): string | null | Refusal => {
  const wrong = refuse('the public key must be an RSA public key or certificate in PEM form');
  if (v.length > FIELD_LIMITS.publicKeyPem || CONTROL_MULTILINE.test(v)) return wrong;
  const t = v.trim();
  if (t === '') return null;
  const parsed = parseConsumerPublicKey(t); // RSA, 2048 to 16384 bits, no private key
  return parsed.ok ? t : refuse(parsed.reason);
});

// ---- queries --------------------------------------------------------------------------

/** A search filter typed by a person (audit log, lists): one line, at most 255 characters; '' = no filter. */
export const filterField = field('the filter', (v) => oneLine('the filter', v, FIELD_LIMITS.filter));

/** A positive database id, from a path segment, an option or a number. */
export const idField = z.union([z.string(), z.number()], { error: 'the id is required' }).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    ctx.issues.push({ code: 'custom', message: 'the id must be a positive whole number', input: v });
    return z.NEVER;
  }
  return n;
});

// ---- parsing --------------------------------------------------------------------------

/**
 * Parses `input` with `schema`; a refusal becomes ServiceError('invalid_input') whose
 * message is the first field's and whose `fields` name every field that is wrong.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const fields: Record<string, string> = {};
  for (const issue of r.error.issues) {
    const key = issue.path.length > 0 ? issue.path.map(String).join('.') : '_';
    fields[key] ??= issue.message;
  }
  throw new ServiceError('invalid_input', r.error.issues[0]?.message ?? 'the input is not valid', fields);
}
