/**
 * Wiring: builds, once per process, the repositories, the management services and the
 * protocol dependencies every entry point (server, CLI) uses. Nothing here decides
 * anything; routers and CLI commands receive the parts they need.
 */
import type { Logger } from 'pino';
import type { Config } from './config';
import type { Database } from './db';
import { SqlProtocolStore } from './db/protocol-store';
import { UserRepository } from './db/users';
import { createHotPath } from './db/hot-path';
import { ConsumerRepository } from './db/consumers';
import { GrantRepository } from './db/grants';
import { AuditRepository } from './db/audit';
import type { SecretBox } from './secret-box';
import { createMetrics, type Metrics } from './metrics';
import { GatewayKeys } from './gateway/signing-keys';
import type { AuditEvent, Clock, FlowDeps } from './oauth1/ports';
import { createSingleSignOn, type SingleSignOn } from './sso';
import { FirstRun } from './first-run';
import { FailureLog } from './db/failure-log';
import { Transactor } from './services/transaction';
import { UserService } from './services/users';
import { ConsumerService } from './services/consumers';
import { GrantService } from './services/grants';
import { AuditService } from './services/audit';
import { SetupService } from './services/setup';
import { KeyService } from './services/master-key';
import { createBrakes } from './services/brakes';
import { SignInService } from './services/sign-in';
import { ServiceError } from './errors';

/** The management services (src/services/): what the console, setup, profile pages and the CLI call. */
export interface ManagementServices {
  users: UserService;
  consumers: ConsumerService;
  grants: GrantService;
  audits: AuditService;
  /** first-run setup (the first administrator) */
  firstRun: SetupService;
  keys: KeyService;
  /** signing in with a password or the proxy's assertion, and its audit entries */
  signIn: SignInService;
}

export interface Wiring extends FlowDeps, ManagementServices {
  config: Readonly<Config>;
  db: Database;
  box: SecretBox;
  logger: Logger;
  metrics: Metrics;
  store: SqlProtocolStore;
  clock: Clock;
  /** trusted-assertion single sign-on, when configured */
  sso: SingleSignOn | null;
  /** the gateway's assertion-signing keys */
  gatewayKeys: GatewayKeys;
  requestTokenTtl: number;
  accessTokenTtl: number;
  authorizationTtl: number;
  /** recent refused protocol and API requests per consumer (written off the request) */
  failures: FailureLog;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Overrides for tests: a different clock, or a repository that fails on purpose. */
export interface WiringOptions {
  clock?: Clock;
  audits?: AuditRepository;
}

/**
 * The management services over one database, without the server's configuration (the
 * CLI and the server get them through createWiring; tests build them directly).
 */
export function createManagementServices(
  db: Database,
  box: SecretBox,
  logger: Logger,
  o: { clock?: Clock; audits?: AuditRepository; onAudit?: (e: AuditEvent) => void; gatewayKeys?: GatewayKeys } = {},
): ManagementServices {
  const clock = o.clock ?? systemClock;
  const auditRepo = o.audits ?? new AuditRepository(clock);
  const tx = new Transactor(db.knex, auditRepo, o.onAudit);
  const userRepo = new UserRepository(clock);
  const grantRepo = new GrantRepository(clock);
  const brakes = createBrakes(db.knex, clock, tx);
  // The API's display-name change through the hot path's prepared statements, which write
  // the audit entry themselves: only with the real audit repository (a test's stand-in
  // audit repository gets the knex transaction, which goes through it).
  const users = new UserService(tx, userRepo, brakes, o.audits ? undefined : createHotPath(db));
  return {
    users,
    consumers: new ConsumerService(tx, new ConsumerRepository(box, clock), grantRepo),
    grants: new GrantService(tx, grantRepo),
    audits: new AuditService(tx, auditRepo),
    firstRun: new SetupService(tx, users, new FirstRun(db.knex, () => users.countAdmins(), logger), brakes),
    keys: new KeyService(tx, box, o.gatewayKeys ?? new GatewayKeys(db.knex, box, clock)),
    signIn: new SignInService(tx, users, brakes),
  };
}

export function createWiring(
  config: Readonly<Config>,
  db: Database,
  box: SecretBox,
  logger: Logger,
  opts: WiringOptions | Clock = {},
): Wiring {
  const o: WiringOptions = 'now' in opts ? { clock: opts } : opts;
  const clock = o.clock ?? systemClock;
  const metrics = createMetrics();
  const onAudit = metrics.observeAudit.bind(metrics);
  const gatewayKeys = new GatewayKeys(db.knex, box, clock);
  const management = createManagementServices(db, box, logger, { clock, audits: o.audits, onAudit, gatewayKeys });
  return {
    ...management,
    config,
    db,
    box,
    logger,
    metrics,
    clock,
    sso: config.sso ? createSingleSignOn(config.sso, ssoUsers(management.users)) : null,
    store: new SqlProtocolStore(db, box, onAudit),
    gatewayKeys,
    options: { timestampWindow: config.timestampWindow, lastUsedThrottle: 60_000 },
    requestTokenTtl: config.requestTokenTtl,
    accessTokenTtl: config.accessTokenTtl,
    authorizationTtl: config.authorizationTtl,
    failures: new FailureLog(db.knex, {}, (err) =>
      logger.warn({ err: { message: (err as Error).message } }, 'failure log write failed'),
    ),
  };
}

/**
 * What single sign-on needs from the users (src/sso/sign-in.ts SsoUsers): lookups, and
 * creating the account of a person the proxy vouched for (audited as `user.created` by
 * sso). A taken username surfaces as the DuplicateError sign-in retries on.
 */
export function ssoUsers(users: UserService) {
  return {
    findByEmail: (email: string) => users.findByEmail(email),
    findByUsername: (username: string) => users.findByUsername(username),
    create: async (u: { username: string; email: string; displayName?: string | undefined }) => {
      try {
        return await users.create({ kind: 'sso', ip: null }, u);
      } catch (e) {
        if (e instanceof ServiceError && e.code === 'conflict')
          throw Object.assign(new Error(e.message), { name: 'DuplicateError' });
        throw e;
      }
    },
  };
}
