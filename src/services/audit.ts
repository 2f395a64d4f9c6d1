/**
 * Reading the audit log (administrators' console; the entries themselves are written by
 * each action, in its own transaction). The filter is parsed here from what a person typed.
 */
import { z } from 'zod';
import type { AuditEntry, AuditFilter, AuditRepository } from '../db/audit';
import type { Transactor } from './transaction';
import { filterField, hasControlCharacters } from '../fields';

export type { AuditEntry, AuditFilter } from '../db/audit';

export const AUDIT_PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` (a UTC day), or '' for none; anything else is ignored (''). */
// (z.preprocess: a key that is absent from the query is then '' rather than an error)
const dayField = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(dayStart(v)) ? v : ''),
  z.string(),
);
/** Text a person typed: control characters (NUL included) are refused, never searched for. */
const lenientText = (max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v : ''),
    z
      .string()
      .refine((v) => !hasControlCharacters(v), 'a filter must not contain control characters')
      .transform((v) => {
        const r = filterField.safeParse(v.slice(0, max));
        return r.success ? r.data : '';
      }),
  );

/**
 * The console's audit filter as typed in the query string: event, user, consumer, from,
 * to (days, inclusive) and page. Control characters in the text filters are refused
 * (invalid_input); any other filter that cannot match (a wrong shape, no date) is dropped
 * rather than refused.
 */
export const auditQueryInput = z.object({
  event: lenientText(64),
  user: lenientText(200),
  consumer: lenientText(255),
  from: dayField,
  to: dayField,
  page: z.preprocess((v) => {
    const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : 1;
    return Math.min(Math.max(n, 1), 100_000);
  }, z.number()),
});
export type AuditQuery = z.output<typeof auditQueryInput>;

function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

export class AuditService {
  constructor(
    private readonly tx: Transactor,
    private readonly audits: AuditRepository,
  ) {}

  list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.audits.list(this.tx.db, filter);
  }

  /** The event names that occur in the log (for the console's filter). */
  events(): Promise<string[]> {
    return this.audits.events(this.tx.db);
  }

  /** One page of the console's search: its entries, and whether an older page exists. */
  async search(q: AuditQuery): Promise<{ entries: AuditEntry[]; hasOlder: boolean }> {
    const rows = await this.audits.list(this.tx.db, {
      event: q.event || undefined,
      username: q.user || undefined,
      consumerKey: q.consumer || undefined,
      since: q.from ? dayStart(q.from) : undefined,
      until: q.to ? dayStart(q.to) + DAY_MS : undefined,
      limit: AUDIT_PAGE_SIZE + 1,
      offset: (q.page - 1) * AUDIT_PAGE_SIZE,
    });
    return { entries: rows.slice(0, AUDIT_PAGE_SIZE), hasOlder: rows.length > AUDIT_PAGE_SIZE };
  }
}
