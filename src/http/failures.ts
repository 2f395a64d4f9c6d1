/**
 * Presenter of the failure log (src/db/failure-log.ts) for the admin console: a consumer's
 * recent refused requests, and the requests with unknown consumer keys. Plain strings for
 * the views; what is stored is diagnostics only (never a signature, token, nonce,
 * verifier, query or base string), so everything here may be shown to an administrator.
 */
import type { FailureEntry } from '../db/failure-log';
import { when, type When } from './views';

export interface FailureRow {
  id: number;
  /** unknown keys only: the key as sent (printable ASCII, cut) */
  consumerKey: string | null;
  lastAt: When;
  firstAt: When;
  /** how many refused requests the row stands for (identical ones are merged) */
  count: number;
  problem: string;
  address: string;
  request: string;
  /** timestamp_refused: "412 s ahead" / "95 s behind" (the consumer's clock against ours) */
  clock: string | null;
  /** signature_invalid: the URL applink verified against, and what the request reached */
  verifiedAgainst: string | null;
  reached: string | null;
  forwarded: string | null;
  hint: string;
}

/** "412 s ahead", "1 h 3 min behind": the consumer's clock against this server's. */
export function clockDifference(seconds: number): string {
  const abs = Math.abs(seconds);
  const side = seconds > 0 ? 'ahead' : seconds < 0 ? 'behind' : 'in step';
  if (abs === 0) return 'in step';
  let size: string;
  if (abs < 120) size = `${abs} s`;
  else if (abs < 7200) size = `${Math.floor(abs / 60)} min ${abs % 60} s`;
  else if (abs < 172_800) size = `${Math.floor(abs / 3600)} h ${Math.floor((abs % 3600) / 60)} min`;
  else size = `${Math.floor(abs / 86_400)} days`;
  return `${size} ${side}`;
}

export function failureRow(e: FailureEntry): FailureRow {
  return {
    id: e.id,
    consumerKey: e.consumerKey,
    lastAt: when(e.lastAt, { seconds: true }),
    firstAt: when(e.firstAt, { seconds: true }),
    count: e.count,
    problem: e.problem,
    address: e.ip ?? '—',
    request: `${e.method} ${e.path}`,
    clock: e.problem === 'timestamp_refused' && e.clockSkew !== null ? clockDifference(e.clockSkew) : null,
    verifiedAgainst: e.problem === 'signature_invalid' ? e.serverUrl : null,
    reached: e.problem === 'signature_invalid' ? e.reachedUrl : null,
    forwarded: e.problem === 'signature_invalid' ? e.forwarded : null,
    hint: e.hint,
  };
}
