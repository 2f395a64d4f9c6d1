/**
 * What the failure log (db/failure-log.ts) keeps of a refused protocol or API request:
 * who (the consumer key sent), what (the problem), from where, and for the two problems
 * behind most broken links the facts that explain them: the clock difference for
 * timestamp_refused, and for signature_invalid the URL the server verified against next
 * to the one the request reached. Built only on the refusal path, from the request again:
 * nothing here runs for an accepted call. Never secret: no signature, token, nonce,
 * verifier, query or base string.
 */
import type { Request } from 'express';
import type { Config } from '../config';
import { collectParams, type CollectedParams } from '../oauth1/params';
import type { OAuthProblem } from '../oauth1/problems';
import type { FailureReport } from '../db/failure-log';
import { requestOrigin, requestParts } from './request-parts';

type Settings = Pick<
  Config,
  'baseUrl' | 'basePath' | 'trustProxy' | 'trustProxyHops' | 'host' | 'port' | 'timestampWindow'
>;

export function failureReport(
  req: Request,
  problem: OAuthProblem,
  config: Settings,
  now: number,
): FailureReport | null {
  let params: CollectedParams;
  try {
    params = collectParams(requestParts(req, config as Config));
  } catch {
    return null; // unreadable: nothing to attribute it to
  }
  const consumerKey = params.oauth.oauth_consumer_key;
  if (consumerKey === undefined || consumerKey === '') return null;
  const q = req.originalUrl.indexOf('?');
  const report: FailureReport = {
    at: now,
    consumerKey,
    problem: problem.code,
    ip: req.ip ?? null,
    method: req.method,
    path: q === -1 ? req.originalUrl : req.originalUrl.slice(0, q),
    hint: problem.advice,
  };

  if (problem.code === 'timestamp_refused') {
    const ts = Number(params.oauth.oauth_timestamp);
    const skew = ts - Math.floor(now / 1000);
    report.clockSkew = skew;
    report.hint =
      `The consumer's clock is ${Math.abs(skew)} s ${skew > 0 ? 'ahead of' : 'behind'} this server's ` +
      `(accepted: ${config.timestampWindow} s either way). Synchronise the clocks (NTP) of both servers.`;
  } else if (problem.code === 'signature_invalid') {
    const server = safeOrigin(req, config);
    const reached = `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host ?? ''}`;
    const forwarded = forwardedHeaders(req);
    report.serverUrl = server === null ? null : server + config.basePath;
    report.reachedUrl = reached;
    report.forwarded = forwarded;
    report.hint = signatureHint(report.serverUrl, reached, forwarded, config);
  } else if (problem.code === 'consumer_key_unknown') {
    report.hint = 'No consumer has this key: the linked application holds a stale or mistyped consumer key.';
  } else if (problem.code === 'nonce_used') {
    report.hint = 'A request was sent twice with the same nonce: a replay, or a client that reuses nonces.';
  } else if (
    problem.code === 'token_rejected' ||
    problem.code === 'token_expired' ||
    problem.code === 'token_revoked'
  ) {
    report.hint = `${problem.advice} The user must authenticate the link again.`;
  }
  return report;
}

function safeOrigin(req: Request, config: Settings): string | null {
  try {
    return requestOrigin(req, config);
  } catch {
    return null;
  }
}

function forwardedHeaders(req: Request): string | null {
  const parts: string[] = [];
  for (const name of ['x-forwarded-proto', 'x-forwarded-host', 'forwarded'] as const) {
    const v = req.headers[name];
    if (v !== undefined) parts.push(`${name}: ${Array.isArray(v) ? v.join(', ') : v}`);
  }
  return parts.length === 0 ? null : parts.join('; ');
}

function signatureHint(server: string | null, reached: string, forwarded: string | null, config: Settings): string {
  const where = `applink verified the signature against ${server ?? 'an unreadable Host'}`;
  if (config.baseUrl === null && forwarded !== null && !config.trustProxy) {
    return (
      `${where}, the address this server was reached at, but the request came through a proxy (${forwarded}). ` +
      'Set APPLINK_BASE_URL to the public URL the consumer uses (or APPLINK_TRUST_PROXY=on behind one trusted proxy).'
    );
  }
  if (server !== null && !sameOrigin(server, reached) && forwarded === null && config.baseUrl !== null) {
    return (
      `${where} (APPLINK_BASE_URL); the request reached ${reached}. ` +
      `The consumer must be configured with ${server} as this application's URL.`
    );
  }
  return (
    `${where}. Check that the consumer signs that URL and uses the right consumer secret or key; ` +
    'the refusal it received carries the base string applink built (oauth_signature_base_string) to compare with its own.'
  );
}

const sameOrigin = (server: string, reached: string): boolean => {
  try {
    return new URL(server).origin === new URL(reached).origin;
  } catch {
    return false;
  }
};
