/**
 * Prometheus metrics (prom-client), served at /metrics. One registry per server, so several
 * servers in one process (tests) never share counters. Labels are bounded: routes are the
 * Express route patterns (or `unmatched`), problems the Problem Reporting codes, token
 * events a fixed list derived from the audit events the flows write.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent } from './oauth1/ports';

export type TokenEvent = 'issued' | 'approved' | 'denied' | 'exchanged' | 'revoked';

// audit event -> token lifecycle event
const TOKEN_EVENTS: Readonly<Record<string, TokenEvent>> = Object.freeze({
  'request_token.issued': 'issued',
  'authorization.approved': 'approved',
  'authorization.denied': 'denied',
  'access_token.issued': 'exchanged',
  'access_token.revoked': 'revoked',
  'access_token.revoked_all': 'revoked',
});

export interface Metrics {
  registry: Registry;
  /** one finished HTTP request */
  observeRequest(method: string, route: string, status: number, seconds: number, problem: string | undefined): void;
  /** one audit event written (revocations of several tokens carry detail.count) */
  observeAudit(e: AuditEvent): void;
  /** process CPU, memory, event-loop lag, ... (servers only, not the CLI) */
  collectProcessMetrics(): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'applink_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'applink_http_request_duration_seconds',
    help: 'Time from receiving a request to finishing its response, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const problems = new Counter({
    name: 'applink_oauth_problems_total',
    help: 'Rejected requests by OAuth Problem Reporting code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'applink_token_events_total',
    help: 'Token lifecycle: request tokens issued, authorizations approved and denied, access tokens exchanged and revoked',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const audits = new Counter({
    name: 'applink_audit_events_total',
    help: 'Audit log entries written by this node, by event (throttled token.used entries excluded)',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  // Start every token event at zero so dashboards see the series before the first event.
  for (const e of Object.values(TOKEN_EVENTS)) tokens.inc({ event: e }, 0);

  let processMetrics = false;
  return {
    registry,
    observeRequest(method, route, status, seconds, problem) {
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route }, seconds);
      if (problem) problems.inc({ code: problem });
    },
    observeAudit(e) {
      audits.inc({ event: e.event });
      const t = TOKEN_EVENTS[e.event];
      if (t) {
        const n = typeof e.detail?.count === 'number' ? e.detail.count : 1;
        if (n > 0) tokens.inc({ event: t }, n);
      }
    },
    collectProcessMetrics() {
      if (processMetrics) return;
      processMetrics = true;
      collectDefaultMetrics({ register: registry, prefix: 'applink_' });
    },
  };
}
