/** Token, secret and verifier values, and the hash under which tokens are stored. */
import { hash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url: unreserved characters only, so they never need encoding. */
export const newTokenValue = (): string => randomBytes(32).toString('base64url');
export const newSecretValue = (): string => randomBytes(32).toString('base64url');
/** Verifiers are typed by hand for `oob`, so they are short but still 80 bits. */
export const newVerifierValue = (): string => randomBytes(10).toString('hex');

/** Tokens are looked up by SHA-256; they carry 256 bits, so no salt or stretching is needed. */
export const hashToken = (value: string): string => hash('sha256', value, 'hex');

/** A token never outlives the authorization it was issued under (times in ms, null = never). */
export const capAt = (expiresAt: number | null, cap: number | null): number | null =>
  cap === null ? expiresAt : expiresAt === null ? cap : Math.min(expiresAt, cap);
