// The shared field schemas: every kind of text refuses controls, is bounded, and email
// addresses have one normal form that never merges two different addresses.
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { z } from 'zod';
import {
  callbackUrlField,
  consumerKeyField,
  consumerNameField,
  descriptionField,
  displayNameField,
  emailField,
  filterField,
  idField,
  normaliseEmail,
  parseInput,
  passwordField,
  publicKeyPemField,
  usernameField,
} from '../../src/fields';
import { ServiceError } from '../../src/errors';

const ok = (s: z.ZodType, v: unknown) => parseInput(s, v);
const refusal = (s: z.ZodType, v: unknown): ServiceError => {
  try {
    parseInput(s, v);
  } catch (e) {
    expect(e).toBeInstanceOf(ServiceError);
    expect((e as ServiceError).code).toBe('invalid_input');
    return e as ServiceError;
  }
  throw new Error(`accepted ${JSON.stringify(v)}`);
};

const CONTROLS = ['\0', '\x01', '\x1b', '\x7f', '\x85', '\x9f', '\ud800'];
const ONE_LINE_ONLY = ['\n', '\r', '\t', '\u2028', '\u202e', '\u2066'];

describe('every text field', () => {
  const textFields: Array<[string, z.ZodType, string]> = [
    ['username', usernameField, 'alice'],
    ['email', emailField, 'alice@example.com'],
    ['display name', displayNameField, 'Alice'],
    ['password', passwordField, 'a long password'],
    ['consumer key', consumerKeyField, 'wiki'],
    ['consumer name', consumerNameField, 'Wiki'],
    ['callback', callbackUrlField, 'https://wiki.example.com/cb'],
    ['filter', filterField, 'alice'],
    ['description', descriptionField, 'Bugs and tasks'],
  ];
  it.each(textFields)('%s refuses NUL and other control characters inside', (_n, schema, good) => {
    expect(ok(schema, good)).toBeTruthy();
    for (const c of CONTROLS) {
      const e = refusal(schema, good.slice(0, 2) + c + good.slice(2));
      expect(e.message).toMatch(/^the /);
    }
  });
  it.each(textFields.filter(([n]) => n !== 'description' && n !== 'password'))(
    '%s (one line) refuses line breaks and bidi overrides inside',
    (_n, schema, good) => {
      for (const c of ONE_LINE_ONLY) refusal(schema, good.slice(0, 2) + c + good.slice(2));
    },
  );
  it.each(textFields)('%s refuses what is not text and what is huge', (_n, schema) => {
    refusal(schema, undefined);
    refusal(schema, ['a', 'b']);
    refusal(schema, 42);
    refusal(schema, 'x'.repeat(100_000));
  });
});

describe('field shapes', () => {
  it('trims and bounds', () => {
    expect(ok(usernameField, '  alice ')).toBe('alice');
    refusal(usernameField, 'a'.repeat(151));
    refusal(usernameField, 'al ice');
    expect(ok(displayNameField, ' Alice A ')).toBe('Alice A');
    refusal(displayNameField, 'x'.repeat(201));
    refusal(displayNameField, '   ');
    expect(ok(consumerNameField, 'x'.repeat(200))).toHaveLength(200);
    refusal(consumerNameField, 'x'.repeat(201));
    refusal(consumerKeyField, 'a b');
    refusal(consumerKeyField, 'ключ');
    expect(ok(descriptionField, 'line one\nline two\ttab')).toBe('line one\nline two\ttab');
    refusal(descriptionField, 'x'.repeat(2001));
    expect(ok(passwordField, ' spaces kept ')).toBe(' spaces kept ');
    expect(refusal(passwordField, 'short').message).toBe('the password must be at least 8 characters');
    refusal(passwordField, 'x'.repeat(1025));
    expect(ok(filterField, '')).toBe('');
  });
  it('callbacks are absolute http(s) URLs without credentials', () => {
    expect(ok(callbackUrlField, '')).toBeNull();
    for (const bad of ['oob', 'javascript:alert(1)', '/relative', 'ftp://x/', 'https://u:p@x/', 'http://[::1']) {
      refusal(callbackUrlField, bad);
    }
  });
  it('public keys are RSA in PEM form, at least 2048 bits (see test/oauth1/consumer-key.test.ts)', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
    expect(refusal(publicKeyPemField, weak).message).toBe('the RSA key has 1024 bits; at least 2048 are required');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    expect(ok(publicKeyPemField, `\n${rsa as string}\n`)).toBe((rsa as string).trim());
    expect(ok(publicKeyPemField, '  ')).toBeNull();
    refusal(publicKeyPemField, ec);
    refusal(publicKeyPemField, 'not a key');
  });
  it('ids are positive whole numbers', () => {
    expect(ok(idField, '42')).toBe(42);
    expect(ok(idField, 7)).toBe(7);
    for (const bad of ['0', '-1', '1.5', '1e3', ' 1', '9'.repeat(16), '', 0, 1.5, Number.MAX_SAFE_INTEGER + 1])
      refusal(idField, bad);
  });
  it('names every wrong field of an object', () => {
    const e = refusal(z.object({ username: usernameField, email: emailField }), { username: 'a b', email: 'x' });
    expect(Object.keys(e.fields)).toEqual(['username', 'email']);
    expect(e.message).toBe(e.fields.username);
  });
});

describe('email normal form', () => {
  it('trims and lower-cases ASCII letters only', () => {
    expect(normaliseEmail('  Alice@Example.COM \n')).toBe('alice@example.com');
    expect(normaliseEmail('zoë@example.com')).toBe('zoë@example.com');
    expect(normaliseEmail('ZOË@example.com')).toBe('zoË@example.com');
    expect(normaliseEmail('İ@example.com')).toBe('İ@example.com');
  });
  it('refuses compatibility characters that another system could fold into a letter', () => {
    for (const e of [
      '\u212a@example.com', // KELVIN SIGN, would be "k"
      'ali\u212ae@example.com',
      'ａlice@example.com', // fullwidth a
      '\u017fam@example.com', // long s
      '\ufb01@example.com', // ﬁ ligature
      'e\u0301@example.com', // not NFC
      'alice@exa\u200bmple.com', // zero-width space
      'al ice@example.com',
      'alice@example.com\u00a0x',
    ]) {
      expect(normaliseEmail(e), e).toBeNull();
    }
    expect(normaliseEmail('\u212a@example.com')).not.toBe(normaliseEmail('k@example.com'));
  });
  it('refuses what is not one address', () => {
    for (const e of ['', '@', 'a@', '@b', 'a@b@c', 'noat', `${'a'.repeat(65)}@x.com`, `a@${'b'.repeat(320)}`]) {
      expect(normaliseEmail(e), e).toBeNull();
    }
  });
  it('never merges two addresses that differ in more than ASCII case', () => {
    const inputs = [
      'k@x.io',
      'K@x.io',
      '\u212a@x.io',
      'é@x.io',
      'É@x.io',
      'e\u0301@x.io',
      'i@x.io',
      'İ@x.io',
      'ı@x.io',
    ];
    const seen = new Map<string, string>();
    for (const i of inputs) {
      const n = normaliseEmail(i);
      if (n === null) continue;
      const before = seen.get(n);
      if (before !== undefined) expect(before.toLowerCase() === i.toLowerCase() && !/[^ -~]/.test(i)).toBe(true);
      seen.set(n, i);
    }
  });
});
