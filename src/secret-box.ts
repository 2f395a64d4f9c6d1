/**
 * Secrets at rest: AES-256-GCM under the master key, and scrypt password hashes.
 * A ciphertext names the key that sealed it, so `applink keys rotate` can re-encrypt
 * rows one by one while readers keep working with both keys loaded.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export const keyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly currentId: string;
  private readonly current: Buffer;
  // Decryption results keyed by ciphertext. A ciphertext always opens to the same
  // plaintext, so this cannot serve anything stale; revocation lives in other columns.
  private readonly opened = new Map<string, string>();

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    if (current.length !== 32) throw new Error('the master key must be 32 bytes');
    this.currentId = keyId(current);
    this.current = current;
    this.keys.set(this.currentId, current);
    for (const k of previous) this.keys.set(keyId(k), k);
  }

  get currentKeyId(): string {
    return this.currentId;
  }

  /** `v1.<keyid>.<base64url(iv | tag | ciphertext)>` */
  seal(plaintext: string): string {
    return this.sealUnder(this.currentId, plaintext);
  }

  /** Seals under a loaded key other than the current one (the master-key check values). */
  sealUnder(id: string, plaintext: string): string {
    const key = this.keys.get(id);
    if (!key) throw new Error(`key ${id} is not loaded`);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${id}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
  }

  open(sealed: string): string {
    const cached = this.opened.get(sealed);
    if (cached !== undefined) return cached;
    const [v, id, data] = sealed.split('.');
    const key = id === undefined ? undefined : this.keys.get(id);
    if (v !== 'v1' || !key || !data) throw new Error('secret sealed under an unknown key');
    const raw = Buffer.from(data, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const plain = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    if (this.opened.size > 100_000) this.opened.clear();
    this.opened.set(sealed, plain);
    return plain;
  }

  /** A key for another purpose (cookie signing, ...), derived from the current master key. */
  derive(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.current, 'applink', label, 32));
  }

  /**
   * The same derived key under the current master key first, then under each previous
   * one: for verifying things (session cookies) made before a key rotation.
   */
  deriveAll(label: string): Buffer[] {
    // (the map holds the current key first, then the previous ones, as keyIds lists them)
    return [...this.keys.values()].map((key) => Buffer.from(hkdfSync('sha256', key, 'applink', label, 32)));
  }

  /** True when a key with this id is loaded (current or previous). */
  hasKey(id: string): boolean {
    return this.keys.has(id);
  }

  /** Ids of every loaded key, the current one first. */
  get keyIds(): string[] {
    return [this.currentId, ...[...this.keys.keys()].filter((id) => id !== this.currentId)];
  }

  /** True when the value was sealed under an older key. */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.currentId;
  }
}

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

// A real hash to compare against when the user does not exist, so timing is the same.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const target = stored ?? (await (dummyHash ??= hashPassword(randomBytes(16).toString('hex'))));
  const parts = target.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(expected, actual) && stored !== null;
}
