/** Where the master key comes from: APPLINK_SECRET_KEY, or a key file made on first start. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { ConfigError, type Config } from './config';
import { SecretBox } from './secrets';

export function loadMasterKey(config: Pick<Config, 'secretKey' | 'secretKeyFile'>): Buffer {
  if (config.secretKey) return config.secretKey;
  const file = config.secretKeyFile;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    // 'wx' fails if another process created it first; then we read theirs.
    try {
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    chmodSync(file, 0o600);
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new ConfigError('APPLINK_SECRET_KEY_FILE', `${file} does not hold a 32-byte base64 key`);
  return key;
}

export function secretBoxFor(config: Pick<Config, 'secretKey' | 'secretKeyFile' | 'previousSecretKeys'>): SecretBox {
  return new SecretBox(loadMasterKey(config), config.previousSecretKeys);
}
