/** Wiring: the repositories and protocol dependencies every entry point (server, CLI) uses. */
import type { Logger } from 'pino';
import type { Config } from './config';
import type { Database } from './db';
import { SqlProtocolStore } from './db/protocol-store';
import { UserRepository } from './db/users';
import { ConsumerRepository } from './db/consumers';
import { TokenRepository } from './db/tokens';
import { AuditRepository } from './db/audit';
import type { SecretBox } from './secrets';
import { createMetrics, type Metrics } from './metrics';
import { GatewayKeys } from './gateway/keys';
import type { Clock, FlowDeps } from './oauth1/ports';
import { createSingleSignOn, type SingleSignOn } from './sso';
import { FirstRun } from './first-run';
import { FailureLog } from './db/failure-log';

export interface Services extends FlowDeps {
  config: Readonly<Config>;
  db: Database;
  box: SecretBox;
  logger: Logger;
  metrics: Metrics;
  store: SqlProtocolStore;
  users: UserRepository;
  consumers: ConsumerRepository;
  tokens: TokenRepository;
  audits: AuditRepository;
  /** the /setup guard (first administrator) */
  firstRun: FirstRun;
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

export function createServices(
  config: Readonly<Config>,
  db: Database,
  box: SecretBox,
  logger: Logger,
  clock: Clock = systemClock,
): Services {
  const metrics = createMetrics();
  const users = new UserRepository(db.knex, (e) => metrics.observeAudit(e));
  return {
    config,
    db,
    box,
    logger,
    metrics,
    clock,
    sso: config.sso ? createSingleSignOn(config.sso, users) : null,
    store: new SqlProtocolStore(db, box, (e) => metrics.observeAudit(e)),
    users,
    firstRun: new FirstRun(db.knex, users, logger),
    consumers: new ConsumerRepository(db.knex, box),
    tokens: new TokenRepository(db.knex, (e) => metrics.observeAudit(e)),
    audits: new AuditRepository(db.knex),
    gatewayKeys: new GatewayKeys(db.knex, box, clock),
    options: { timestampWindow: config.timestampWindow, lastUsedThrottle: 60_000 },
    requestTokenTtl: config.requestTokenTtl,
    accessTokenTtl: config.accessTokenTtl,
    authorizationTtl: config.authorizationTtl,
    failures: new FailureLog(db.knex, {}, (err) =>
      logger.warn({ err: { message: (err as Error).message } }, 'failure log write failed'),
    ),
  };
}
