// A real applink server on a temporary SQLite file (or the PostgreSQL test database),
// listening on a free loopback port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { startServer, type RunningServer } from '../../src/server';
import { createLogger } from '../../src/logger';

export interface TestServer extends RunningServer {
  dir: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * `logs`: when given, the server logs at info level into this array (one parsed JSON
 * object per line), so a test can read what an operator would see in the log.
 */
export async function startTestServer(
  extraEnv: Record<string, string> = {},
  opts: { logs?: Array<Record<string, unknown>> } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'applink-test-'));
  const env: Record<string, string> = {
    APPLINK_PORT: '0',
    APPLINK_HOST: '127.0.0.1',
    APPLINK_DATABASE_URL: `sqlite:${join(dir, 'applink.sqlite')}`,
    APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
    APPLINK_LOG_LEVEL: 'silent',
    ...extraEnv,
  };
  const config = loadConfig(env);
  const logs = opts.logs;
  const logger = logs
    ? createLogger({ logLevel: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
    : createLogger(config);
  const running = await startServer(config, logger);
  return {
    ...running,
    dir,
    env,
    async stop() {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const PASSWORD = 'correct horse battery';

export async function seedUser(s: TestServer, username: string, opts: { admin?: boolean } = {}) {
  return s.services.users.create({
    username,
    email: `${username}@example.com`,
    displayName: `${username} Example`,
    password: PASSWORD,
    isAdmin: opts.admin,
  });
}

export const rsaKeys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

export async function seedConsumer(
  s: TestServer,
  key: string,
  opts: { callbackUrl?: string; rsa?: boolean; secret?: boolean } = {},
): Promise<{ key: string; secret: string | null }> {
  const r = await s.services.consumers.create({
    key,
    name: `${key} app`,
    description: `The ${key} application`,
    callbackUrl: opts.callbackUrl,
    publicKeyPem: opts.rsa ? rsaKeys.publicKey : undefined,
    withSecret: opts.secret ?? true,
  });
  return { key, secret: r.secret };
}
