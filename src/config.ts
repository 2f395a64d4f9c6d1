/**
 * The only module that reads process.env. Every variable is parsed and validated once
 * into a typed, frozen object; a bad value is a `config_invalid` ServiceError naming the variable.
 * Defaults are documented here and in the README's configuration table.
 */
import { z } from 'zod';
import { parseGatewayRoutes, type GatewayRoute } from './gateway/routes';
import { forbiddenForwardHeader } from './gateway/headers';
import { configInvalid } from './errors';

export type DatabaseConfig = { client: 'sqlite'; filename: string } | { client: 'pg'; connectionString: string };

export interface Config {
  port: number;
  host: string;
  database: DatabaseConfig;
  /** public URL consumers use, without trailing slash; null = derived from each request */
  baseUrl: URL | null;
  /** path prefix every route is served under ('' or '/applink') */
  basePath: string;
  /** X-Forwarded-* honoured at all: trustProxyHops > 0 */
  trustProxy: boolean;
  /** proxies in front whose X-Forwarded-* entries are trusted (APPLINK_TRUST_PROXY: on = 1, or a count); 0 = off */
  trustProxyHops: number;
  /** 32-byte master key from APPLINK_SECRET_KEY, or null to use/generate the key file */
  secretKey: Buffer | null;
  secretKeyFile: string;
  /** older master keys still accepted for reading during a rotation */
  previousSecretKeys: Buffer[];
  timestampWindow: number;
  requestTokenTtl: number;
  accessTokenTtl: number;
  /** seconds a user's authorization (a grant, across OAuth Session renewals) lives; 0 = forever */
  authorizationTtl: number;
  /** how often expired nonces, request tokens and sessions are deleted, seconds */
  sweepInterval: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** seconds a SIGTERM waits for in-flight requests before cutting connections */
  shutdownTimeout: number;
  /** gateway: public prefixes forwarded to upstream applications, longest first (none = off) */
  gatewayRoutes: readonly GatewayRoute[];
  /** gateway: ms of upstream silence (connect, response, mid-stream) before 504 / abort */
  gatewayTimeout: number;
  /** gateway: largest body read before verification (form bodies, oauth_body_hash), bytes */
  gatewayBufferLimit: number;
  /** gateway: request headers forwarded besides the built-in allowlist, lower-cased */
  gatewayForwardHeaders: readonly string[];
  /** trusted JWT single sign-on from an identity-aware proxy; null = off */
  sso: SsoConfig | null;
  /** false = SSO-only: no password form, POST /login refused (needs SSO) */
  loginForm: boolean;
}

export interface SsoConfig {
  /** where the proxy's signing keys come from: an HTTPS key set URL or a local JWKS file */
  jwks: { kind: 'url'; url: URL } | { kind: 'file'; path: string };
  /** exact `iss` the proxy puts in its assertions */
  issuer: string;
  /** accepted `aud` values (any one of them) */
  audience: string[];
  /** request header carrying the assertion, lower-cased (default cf-access-jwt-assertion) */
  header: string;
  /** cookie carrying the assertion when the header is absent (default CF_Authorization) */
  cookie: string;
  /** claim holding the user's email (default email) */
  emailClaim: string;
  /** create a local user on first sight of an unknown email (default off) */
  autoProvision: boolean;
  /** seconds before an unknown `kid` may trigger another key set fetch (default 30) */
  jwksCooldown: number;
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

/** A database URL given on the command line (`applink db copy`), validated like APPLINK_DATABASE_URL. */
export function parseDatabaseUrl(value: string, name: string): DatabaseConfig {
  const r = database.safeParse(value);
  if (!r.success) throw configInvalid(name, r.error.issues[0]?.message ?? 'invalid value');
  return r.data;
}

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

// RFC 9110 token characters: what a header or cookie name may be made of.
const httpToken = z
  .string()
  .trim()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'must be a header/cookie name (letters, digits, - _ .)');

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

const jwksUrl = z.string().transform((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s.trim());
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute https URL' });
    return z.NEVER;
  }
  // Keys fetched over plain HTTP could be swapped on the way: HTTPS only, except loopback.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'must be an https URL (plain http only on a loopback address)' });
    return z.NEVER;
  }
  if (url.username || url.password || url.hash) {
    ctx.addIssue({ code: 'custom', message: 'must not carry credentials or a fragment' });
    return z.NEVER;
  }
  return url;
});

const gatewayRoutes = z.string().transform((s, ctx) => {
  try {
    return parseGatewayRoutes(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

const gatewayForwardHeaders = z.string().transform((s, ctx) => {
  const names: string[] = [];
  for (const raw of s.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (!/^[!#$%&'*+.^`|~0-9a-z-]{1,100}$/.test(name)) {
      ctx.addIssue({ code: 'custom', message: `"${raw.trim()}" is not a header name` });
      return z.NEVER;
    }
    if (forbiddenForwardHeader(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `${name} is set by applink or names an identity; it is never forwarded`,
      });
      return z.NEVER;
    }
    names.push(name);
  }
  return names;
});

const SCHEMA = {
  APPLINK_PORT: int(0, 65535).default(3000),
  APPLINK_HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  APPLINK_DATABASE_URL: database.default({ client: 'sqlite', filename: './data/applink.sqlite' }),
  APPLINK_BASE_URL: baseUrl.optional(),
  APPLINK_TRUST_PROXY: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(
      z.union([
        z
          .enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'])
          .transform((s) => (['1', 'true', 'on', 'yes'].includes(s) ? 1 : 0)),
        z
          .string()
          .regex(/^(?:[2-9]|10)$/, { message: 'must be on, off, or the number of trusted proxy hops (1 to 10)' })
          .transform(Number),
      ]),
    )
    .default(0),
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
  // Atlassian's default: the token's 5 years plus 30 days, so a token can be renewed late.
  APPLINK_AUTHORIZATION_TTL: int(0, 100 * 365 * 86_400).default(157_680_000 + 30 * 86_400),
  APPLINK_SWEEP_INTERVAL: int(1, 86_400).default(60),
  APPLINK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  APPLINK_SHUTDOWN_TIMEOUT: int(1, 3600).default(25),
  APPLINK_SSO_JWKS_URL: jwksUrl.optional(),
  APPLINK_SSO_JWKS_FILE: z.string().trim().min(1, 'must be a file path').optional(),
  APPLINK_SSO_ISSUER: z.string().trim().min(1, 'must not be empty').optional(),
  APPLINK_SSO_AUDIENCE: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string()).min(1, 'must name at least one audience'))
    .optional(),
  APPLINK_SSO_HEADER: httpToken.default('Cf-Access-Jwt-Assertion'),
  APPLINK_SSO_COOKIE: httpToken.default('CF_Authorization'),
  APPLINK_SSO_EMAIL_CLAIM: z.string().trim().min(1, 'must not be empty').default('email'),
  APPLINK_SSO_AUTO_PROVISION: bool.default(false),
  APPLINK_SSO_JWKS_COOLDOWN: int(0, 3600).default(30),
  APPLINK_LOGIN_FORM: bool.default(true),
  APPLINK_GATEWAY_ROUTES: gatewayRoutes.default([]),
  APPLINK_GATEWAY_TIMEOUT: int(1, 3600).default(30),
  APPLINK_GATEWAY_BUFFER_LIMIT: int(1024, 1024 * 1024 * 1024).default(1024 * 1024),
  APPLINK_GATEWAY_FORWARD_HEADERS: gatewayForwardHeaders.default([]),
} as const;

/** Every variable read above. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(SCHEMA));

/**
 * One line per variable for `applink --help` (the README's table says more). A variable
 * added to SCHEMA without a line here fails test/config.test.ts.
 */
export const VARIABLE_HELP: Readonly<Record<string, string>> = Object.freeze({
  APPLINK_PORT: 'listen port (3000)',
  APPLINK_HOST: 'listen address (127.0.0.1)',
  APPLINK_DATABASE_URL: 'sqlite:PATH or postgres://… (sqlite:./data/applink.sqlite)',
  APPLINK_BASE_URL: 'public URL the consumers use (default: from each request)',
  APPLINK_TRUST_PROXY: 'honour X-Forwarded-* from trusted proxies: on (one hop) or a hop count 1-10 (off)',
  APPLINK_SECRET_KEY: 'master key, 32 bytes base64; required with PostgreSQL',
  APPLINK_SECRET_KEY_FILE: 'master key file when APPLINK_SECRET_KEY is unset (./data/secret.key)',
  APPLINK_PREVIOUS_SECRET_KEYS: 'older master keys still read during a rotation, comma-separated',
  APPLINK_TIMESTAMP_WINDOW: 'accepted clock skew, seconds (300)',
  APPLINK_REQUEST_TOKEN_TTL: 'request-token lifetime, seconds (600)',
  APPLINK_ACCESS_TOKEN_TTL: 'access-token lifetime, seconds, 0 = none (5 years)',
  APPLINK_AUTHORIZATION_TTL: 'how long a grant may be renewed (OAuth Session), seconds',
  APPLINK_SWEEP_INTERVAL: 'how often expired rows are deleted, seconds (60)',
  APPLINK_LOG_LEVEL: 'fatal, error, warn, info, debug, trace or silent (info)',
  APPLINK_SHUTDOWN_TIMEOUT: 'seconds in-flight requests get on SIGTERM (25)',
  APPLINK_SSO_JWKS_URL: "single sign-on: the proxy's key set URL (any APPLINK_SSO_* turns SSO on)",
  APPLINK_SSO_JWKS_FILE: "single sign-on: the proxy's key set as a local file",
  APPLINK_SSO_ISSUER: 'single sign-on: exact iss of the assertions',
  APPLINK_SSO_AUDIENCE: 'single sign-on: accepted aud values, comma-separated',
  APPLINK_SSO_HEADER: 'single sign-on: header carrying the assertion (Cf-Access-Jwt-Assertion)',
  APPLINK_SSO_COOKIE: 'single sign-on: cookie carrying the assertion (CF_Authorization)',
  APPLINK_SSO_EMAIL_CLAIM: "single sign-on: claim holding the user's email (email)",
  APPLINK_SSO_AUTO_PROVISION: 'single sign-on: create unknown users on first sight (off)',
  APPLINK_SSO_JWKS_COOLDOWN: 'single sign-on: least seconds between key set fetches (30)',
  APPLINK_LOGIN_FORM: 'off = SSO only, no password form (on)',
  APPLINK_GATEWAY_ROUTES: 'gateway: /prefix=http://upstream[/path], comma-separated (off)',
  APPLINK_GATEWAY_TIMEOUT: 'gateway: upstream silence before a call fails, seconds (30)',
  APPLINK_GATEWAY_BUFFER_LIMIT: 'gateway: largest body read before verification, bytes (1 MiB)',
  APPLINK_GATEWAY_FORWARD_HEADERS: 'gateway: extra request headers forwarded upstream, comma-separated',
});

const SSO_VARIABLES = Object.keys(SCHEMA).filter((k) => k.startsWith('APPLINK_SSO_'));

/**
 * SSO is on when any APPLINK_SSO_* variable is set; then the key source (URL or file,
 * exactly one), the issuer and the audience are all required: a half-configured SSO
 * is an error, never a silently open or silently disabled door.
 */
function ssoFrom(env: Env, p: Parsed): SsoConfig | null {
  const set = SSO_VARIABLES.filter((k) => (env[k] ?? '') !== '');
  if (set.length === 0) return null;
  const url = p.APPLINK_SSO_JWKS_URL;
  const file = p.APPLINK_SSO_JWKS_FILE;
  if (url && file)
    throw configInvalid('APPLINK_SSO_JWKS_FILE', 'set either APPLINK_SSO_JWKS_URL or APPLINK_SSO_JWKS_FILE, not both');
  const jwks: SsoConfig['jwks'] | null = url ? { kind: 'url', url } : file ? { kind: 'file', path: file } : null;
  if (!jwks)
    throw configInvalid(
      'APPLINK_SSO_JWKS_URL',
      `required for single sign-on (or APPLINK_SSO_JWKS_FILE); set because of ${set.join(', ')}`,
    );
  if (!p.APPLINK_SSO_ISSUER)
    throw configInvalid('APPLINK_SSO_ISSUER', `required for single sign-on; set because of ${set.join(', ')}`);
  if (!p.APPLINK_SSO_AUDIENCE)
    throw configInvalid('APPLINK_SSO_AUDIENCE', `required for single sign-on; set because of ${set.join(', ')}`);
  return {
    jwks,
    issuer: p.APPLINK_SSO_ISSUER,
    audience: p.APPLINK_SSO_AUDIENCE,
    header: p.APPLINK_SSO_HEADER.toLowerCase(),
    cookie: p.APPLINK_SSO_COOKIE,
    emailClaim: p.APPLINK_SSO_EMAIL_CLAIM,
    autoProvision: p.APPLINK_SSO_AUTO_PROVISION,
    jwksCooldown: p.APPLINK_SSO_JWKS_COOLDOWN,
  };
}

type Parsed = { [K in keyof typeof SCHEMA]: z.output<(typeof SCHEMA)[K]> };

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const v = {} as Record<string, unknown>;
  for (const [name, schema] of Object.entries(SCHEMA)) {
    const raw = env[name];
    const result = (schema as z.ZodType).safeParse(raw === '' ? undefined : raw);
    if (!result.success) throw configInvalid(name, result.error.issues[0]?.message ?? 'invalid value');
    v[name] = result.data;
  }
  const p = v as Parsed;
  const base = p.APPLINK_BASE_URL ?? null;
  const sso = ssoFrom(env, p);
  if (!p.APPLINK_LOGIN_FORM && !sso)
    throw configInvalid('APPLINK_LOGIN_FORM', 'off needs single sign-on (APPLINK_SSO_*) or nobody could sign in');
  // The single sign-on header carries an identity too (a custom name is not on the fixed
  // list): no client may pass one to an upstream through the gateway.
  if (sso && p.APPLINK_GATEWAY_FORWARD_HEADERS.includes(sso.header)) {
    throw configInvalid(
      'APPLINK_GATEWAY_FORWARD_HEADERS',
      `${sso.header} is the single sign-on header (APPLINK_SSO_HEADER); it is never forwarded`,
    );
  }
  // The gateway's assertion names applink as its issuer: from configuration, never from a
  // request's Host header.
  if (p.APPLINK_GATEWAY_ROUTES.length > 0 && !base)
    throw configInvalid('APPLINK_BASE_URL', 'required with APPLINK_GATEWAY_ROUTES (the gateway signs it as issuer)');
  return Object.freeze({
    port: p.APPLINK_PORT,
    host: p.APPLINK_HOST,
    database: p.APPLINK_DATABASE_URL,
    baseUrl: base,
    basePath: base ? base.pathname.replace(/\/+$/, '') : '',
    trustProxy: p.APPLINK_TRUST_PROXY > 0,
    trustProxyHops: p.APPLINK_TRUST_PROXY,
    secretKey: p.APPLINK_SECRET_KEY ?? null,
    secretKeyFile: p.APPLINK_SECRET_KEY_FILE,
    previousSecretKeys: p.APPLINK_PREVIOUS_SECRET_KEYS,
    timestampWindow: p.APPLINK_TIMESTAMP_WINDOW,
    requestTokenTtl: p.APPLINK_REQUEST_TOKEN_TTL,
    accessTokenTtl: p.APPLINK_ACCESS_TOKEN_TTL,
    authorizationTtl: p.APPLINK_AUTHORIZATION_TTL,
    sweepInterval: p.APPLINK_SWEEP_INTERVAL,
    logLevel: p.APPLINK_LOG_LEVEL,
    shutdownTimeout: p.APPLINK_SHUTDOWN_TIMEOUT,
    sso: sso ? Object.freeze(sso) : null,
    loginForm: p.APPLINK_LOGIN_FORM,
    gatewayRoutes: p.APPLINK_GATEWAY_ROUTES,
    gatewayTimeout: p.APPLINK_GATEWAY_TIMEOUT * 1000,
    gatewayBufferLimit: p.APPLINK_GATEWAY_BUFFER_LIMIT,
    gatewayForwardHeaders: p.APPLINK_GATEWAY_FORWARD_HEADERS,
  });
}
