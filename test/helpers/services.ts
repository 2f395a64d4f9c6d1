// The management services (src/services/) over a bare database, without a server: for
// tests of the services themselves and of code that takes them (single sign-on).
import { randomBytes } from 'node:crypto';
import type { Database } from '../../src/db';
import { SecretBox } from '../../src/secret-box';
import { createLogger } from '../../src/logger';
import { createManagementServices, ssoUsers, type ManagementServices } from '../../src/wiring';
import type { AuditRepository } from '../../src/db/audit';
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
