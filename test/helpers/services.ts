// The management services (src/services/) over a bare database, without a server: for
// tests of the services themselves and of code that takes them (single sign-on).
import { randomBytes } from 'node:crypto';
import type { Database } from '../../src/db';
import { SecretBox } from '../../src/secret-box';
import { createLogger } from '../../src/logger';
import { createManagementServices, ssoUsers, type ManagementServices } from '../../src/wiring';
import { AuditRepository } from '../../src/db/audit';
import { ServiceError, type ServiceErrorCode } from '../../src/errors';
import { expect } from 'vitest';
import type { Clock } from '../../src/oauth1/ports';

export function servicesOn(
  db: Database,
  opts: { audits?: AuditRepository; clock?: Clock; box?: SecretBox } = {},
): ManagementServices & { sso: ReturnType<typeof ssoUsers> } {
  const m = createManagementServices(
    db,
    opts.box ?? new SecretBox(randomBytes(32)),
    createLogger({ logLevel: 'silent' }),
    opts,
  );
  return { ...m, sso: ssoUsers(m.users) };
}

/** An audit log that refuses every entry: an action's change must roll back with it. */
export class FailingAudits extends AuditRepository {
  override insert(): Promise<void> {
    return Promise.reject(new Error('the audit log is down'));
  }
}

/** Awaits `p`, which must reject with a ServiceError of `code`; returns that error. */
export async function rejectsWith(p: Promise<unknown>, code: ServiceErrorCode): Promise<ServiceError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected ServiceError ${code}`).toBeInstanceOf(ServiceError);
  expect((e as ServiceError).code).toBe(code);
  return e as ServiceError;
}
