/** Row shapes and their mapping to the core's records (booleans differ between dialects). */
import type { KeyObject } from 'node:crypto';
import { parseConsumerPublicKey } from '../oauth1/consumer-key';
import type { SecretBox } from '../secret-box';
import type { ConsumerRecord, UserRecord } from '../oauth1/ports';

export interface UserRow {
  id: number;
  username: string;
  email: string;
  display_name: string;
  password_hash: string | null;
  is_admin: boolean | number;
  disabled_at: number | null;
  created_at: number;
}

export interface ConsumerRow {
  id: number;
  consumer_key: string;
  name: string;
  description: string;
  callback_url: string | null;
  secret_enc: string | null;
  public_key: string | null;
  disabled_at: number | null;
  created_at: number;
}

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  email: r.email,
  displayName: r.display_name,
  disabled: r.disabled_at !== null,
  isAdmin: !!r.is_admin,
});

// Parsed public keys by PEM text: public data, and parsing costs more than a signature check.
// A stored key that is no longer acceptable (under 2048 bits, stored before that rule) is
// remembered as null: the consumer then cannot sign with RSA (signature_method_rejected)
// until an administrator replaces the key; nothing else about it breaks.
const publicKeys = new Map<string, KeyObject | null>();

export function publicKeyFromPem(pem: string): KeyObject | null {
  let key = publicKeys.get(pem);
  if (key === undefined) {
    const parsed = parseConsumerPublicKey(pem);
    key = parsed.ok ? parsed.key : null;
    if (publicKeys.size > 10_000) publicKeys.clear();
    publicKeys.set(pem, key);
  }
  return key;
}

export const toConsumer = (r: ConsumerRow, box: SecretBox): ConsumerRecord => ({
  id: r.id,
  key: r.consumer_key,
  name: r.name,
  description: r.description,
  callbackUrl: r.callback_url,
  secret: r.secret_enc === null ? null : box.open(r.secret_enc),
  publicKey: r.public_key === null ? null : publicKeyFromPem(r.public_key),
  disabled: r.disabled_at !== null,
});
