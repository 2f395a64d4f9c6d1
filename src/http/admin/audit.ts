/**
 * The console's diagnostics: the audit log (filters and pages) and the requests signed
 * with a consumer key no consumer has.
 */
import type { Router } from 'express';
import { failureRow } from '../failures';
import { FAILURE_LOG_DEFAULTS } from '../../db/failure-log';
import { auditQueryInput } from '../../services/audit';
import { parseInput } from '../../fields';
import type { AdminContext } from './context';
import { auditRow } from './presenters';

/** Requests signed with a key no consumer has (a stale or mistyped key in a linked app). */
export function registerUnknownKeys(router: Router, { d, web }: AdminContext): void {
  router.get('/unknown-keys', async (req, res) => {
    web.render(req, res, 'admin/unknown-keys', {
      title: 'Unknown consumer keys',
      section: 'unknown-keys',
      failures: (await d.failures.unknownKeys()).map(failureRow),
      failuresKept: FAILURE_LOG_DEFAULTS.keep,
    });
  });
}

export function registerAudit(router: Router, { d, web, base }: AdminContext): void {
  const { audits } = d.services;
  router.get('/audit', async (req, res) => {
    // control characters in a text filter: invalid_input (400); from/to/page that are no
    // date or number are dropped (services/audit.ts)
    const q = parseInput(auditQueryInput, req.query);
    const filter = { event: q.event, user: q.user, consumer: q.consumer, from: q.from, to: q.to };
    const [found, events] = await Promise.all([audits.search(q), audits.events()]);
    const link = (page: number) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) if (v) params.set(k, v);
      if (page > 1) params.set('page', String(page));
      const qs = params.toString();
      return `${base}/audit${qs ? `?${qs}` : ''}`;
    };
    web.render(req, res, 'admin/audit', {
      title: 'Audit log',
      section: 'audit',
      filter,
      events,
      entries: found.entries.map(auditRow),
      page: q.page,
      newer: q.page > 1 ? link(q.page - 1) : null,
      older: found.hasOlder ? link(q.page + 1) : null,
    });
  });
}
