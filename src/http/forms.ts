/**
 * The HTML forms of the console, setup and profile pages, as schemas: they turn a parsed
 * urlencoded body (strings, or arrays for repeated fields) into the input a service
 * takes. They only convert (a missing or repeated field is '', a checkbox is a boolean);
 * the field schemas (src/fields.ts) judge the values.
 */
import { z } from 'zod';
import { notFound } from '../errors';
import { FIELD_LIMITS, parseInput } from '../fields';

/** A form field as a string: missing or repeated fields are ''. Long values are kept for the field schema to refuse. */
export const formText = z.preprocess((v) => (typeof v === 'string' ? v : ''), z.string());
/** A checkbox: checked is `on` (or yes/true). */
export const checkbox = z.preprocess((v) => v === 'on' || v === 'yes' || v === 'true', z.boolean());

export const newConsumerForm = z.object({
  key: formText,
  name: formText,
  description: formText,
  callbackUrl: formText,
  publicKeyPem: formText,
  withSecret: checkbox,
});

export const consumerForm = z.object({ name: formText, description: formText, callbackUrl: formText });

/** The new-user form of the console (the administrator box is the console's own). */
export const newUserForm = z
  .object({ username: formText, email: formText, displayName: formText, password: formText, isAdmin: checkbox })
  .transform((f) => ({ ...f, displayName: f.displayName.trim() || undefined }));

/** The first-run form: a new user (always an administrator), the password twice, and the setup code. */
export const setupForm = z
  .object({
    username: formText,
    email: formText,
    displayName: formText,
    password: formText,
    passwordAgain: formText,
    setupCode: formText.transform((v) => v.slice(0, FIELD_LIMITS.setupCode * 4)),
  })
  .transform((f, ctx) => {
    if (f.password !== f.passwordAgain) {
      ctx.issues.push({ code: 'custom', message: 'The two passwords differ.', path: ['passwordAgain'], input: f });
      return z.NEVER;
    }
    return {
      user: {
        username: f.username,
        email: f.email,
        displayName: f.displayName.trim() || undefined,
        password: f.password,
      },
      setupCode: f.setupCode,
    };
  });

/** Refuses a form whose two new passwords differ (before any service is asked). */
const sameTwice = (f: { newPassword: string; newPasswordAgain: string }, ctx: z.RefinementCtx): void => {
  if (f.newPassword !== f.newPasswordAgain)
    ctx.addIssue({ code: 'custom', message: 'The two new passwords differ.', path: ['newPasswordAgain'] });
};

/** The profile's password form: the current password and the new one twice. */
export const passwordChangeForm = z
  .object({ currentPassword: formText, newPassword: formText, newPasswordAgain: formText })
  .superRefine(sameTwice)
  .transform((f) => ({ currentPassword: f.currentPassword, newPassword: f.newPassword }));

/** The console's "set a password" form: the new password twice. */
export const passwordSetForm = z
  .object({ newPassword: formText, newPasswordAgain: formText })
  .superRefine(sameTwice)
  .transform((f) => f.newPassword);

/** The console's "replace the public key" form. */
export const publicKeyForm = z.object({ publicKeyPem: formText });

/** The body as a record (an absent or unreadable body is empty). */
export const formBody = (body: unknown): Record<string, unknown> =>
  body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};

/** Parses a form; a refusal is ServiceError('invalid_input'), answered by the route's onServiceError. */
export function parseForm<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  return parseInput(schema, formBody(body));
}

/** A positive id from the path; anything else is no page at all (404). */
export function pathId(v: unknown): number {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw notFound('There is no page at this address.');
  return n;
}
