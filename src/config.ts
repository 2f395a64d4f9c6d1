/**
 * The only module that reads process.env. Every variable is parsed and validated once
 * into a typed, frozen object; a bad value is a ConfigError naming the variable.
 * Defaults are documented here and in the README's configuration table.
 */
import { z } from 'zod';

export type DatabaseConfig = { client: 'sqlite'; filename: string } | { client: 'pg'; connectionString: string };

export interface Config {
  port: number;
  host: string;
  database: DatabaseConfig;
  /** public URL consumers use, without trailing slash; null = derived from each request */
  baseUrl: URL | null;
  /** path prefix every route is served under ('' or '/applink') */
  basePath: string;
  trustProxy: boolean;
  /** 32-byte master key from APPLINK_SECRET_KEY, or null to use/generate the key file */
  secretKey: Buffer | null;
  secretKeyFile: string;
  /** older master keys still accepted for reading during a rotation */
  previousSecretKeys: Buffer[];
  timestampWindow: number;
  requestTokenTtl: number;
  accessTokenTtl: number;
  /** how often expired nonces, request tokens and sessions are deleted, seconds */
  sweepInterval: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const bool = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'], { message: 'must be on or off' }))
  .transform((s) => ['1', 'true', 'on', 'yes'].includes(s));

const key32 = z
  .string()
  .transform((s) => Buffer.from(s.trim(), 'base64'))
  .refine((b) => b.length === 32, 'must be 32 bytes encoded in base64 (openssl rand -base64 32)');

const database = z.string().transform((s, ctx): DatabaseConfig => {
  if (s.startsWith('sqlite:')) {
    const filename = s.slice('sqlite:'.length);
    if (filename === '') ctx.addIssue({ code: 'custom', message: 'sqlite: needs a file path' });
    return { client: 'sqlite', filename };
  }
  if (/^postgres(ql)?:\/\//.test(s)) return { client: 'pg', connectionString: s };
  ctx.addIssue({ code: 'custom', message: 'must be sqlite:PATH or postgres://…' });
  return z.NEVER;
});

const baseUrl = z.string().transform((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute http(s) URL' });
    return z.NEVER;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL without query, fragment or credentials' });
    return z.NEVER;
  }
  return url;
});

const SCHEMA = {
  APPLINK_PORT: int(0, 65535).default(3000),
  APPLINK_HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  APPLINK_DATABASE_URL: database.default({ client: 'sqlite', filename: './data/applink.sqlite' }),
  APPLINK_BASE_URL: baseUrl.optional(),
  APPLINK_TRUST_PROXY: bool.default(false),
  APPLINK_SECRET_KEY: key32.optional(),
  APPLINK_SECRET_KEY_FILE: z.string().min(1).default('./data/secret.key'),
  APPLINK_PREVIOUS_SECRET_KEYS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(key32))
    .default([]),
  APPLINK_TIMESTAMP_WINDOW: int(1, 86_400).default(300),
  APPLINK_REQUEST_TOKEN_TTL: int(1, 86_400).default(600),
  APPLINK_ACCESS_TOKEN_TTL: int(0, 100 * 365 * 86_400).default(157_680_000),
  APPLINK_SWEEP_INTERVAL: int(1, 86_400).default(60),
  APPLINK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
} as const;

type Parsed = { [K in keyof typeof SCHEMA]: z.output<(typeof SCHEMA)[K]> };

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const v = {} as Record<string, unknown>;
  for (const [name, schema] of Object.entries(SCHEMA)) {
    const raw = env[name];
    const result = (schema as z.ZodType).safeParse(raw === '' ? undefined : raw);
    if (!result.success) throw new ConfigError(name, result.error.issues[0]?.message ?? 'invalid value');
    v[name] = result.data;
  }
  const p = v as Parsed;
  const base = p.APPLINK_BASE_URL ?? null;
  return Object.freeze({
    port: p.APPLINK_PORT,
    host: p.APPLINK_HOST,
    database: p.APPLINK_DATABASE_URL,
    baseUrl: base,
    basePath: base ? base.pathname.replace(/\/+$/, '') : '',
    trustProxy: p.APPLINK_TRUST_PROXY,
    secretKey: p.APPLINK_SECRET_KEY ?? null,
    secretKeyFile: p.APPLINK_SECRET_KEY_FILE,
    previousSecretKeys: p.APPLINK_PREVIOUS_SECRET_KEYS,
    timestampWindow: p.APPLINK_TIMESTAMP_WINDOW,
    requestTokenTtl: p.APPLINK_REQUEST_TOKEN_TTL,
    accessTokenTtl: p.APPLINK_ACCESS_TOKEN_TTL,
    sweepInterval: p.APPLINK_SWEEP_INTERVAL,
    logLevel: p.APPLINK_LOG_LEVEL,
  });
}
