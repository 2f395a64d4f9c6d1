/** How the console shows records shared by several of its pages. */
import { when } from '../views';
import type { AuditEntry } from '../../services/audit';

/** An audit entry for the page: its detail as `key: value` pairs. */
export function auditRow(e: AuditEntry) {
  let detail = '';
  if (e.detail) {
    try {
      const d = JSON.parse(e.detail) as Record<string, unknown>;
      detail = Object.entries(d)
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
    } catch {
      detail = e.detail;
    }
  }
  return {
    id: e.id,
    at: when(e.at, { seconds: true }),
    event: e.event,
    actor: e.actor,
    consumerKey: e.consumerKey,
    tokenId: e.tokenId,
    ip: e.ip,
    detail,
  };
}
