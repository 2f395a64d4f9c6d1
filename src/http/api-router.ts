/**
 * The protected resources: who the token acts for, read and (display name) written.
 *
 * The handlers are framework-free (node's request and response), so the fast path in
 * front of Express (src/http/front.ts) and the Express routes below run the very same
 * code; the Express routes serve what the fast path leaves to Express (other spellings of
 * the path, such as a trailing slash or another letter case).
 */
import { Router, type Request, type Response } from 'express';
import type { ServerResponse } from 'node:http';
import { authenticateApiCall } from '../oauth1/flows/api-call';
import { OAuthProblem } from '../oauth1/problems';
import { requestParts, type ReceivedRequest } from './request-parts';
import { signedBody } from './body';
import type { Wiring } from '../wiring';
import type { UserRecord } from '../oauth1/ports';
import { displayNameField } from '../fields';

/** The API's one resource, relative to the base path (also its route label). */
export const MYSELF_PATH = '/rest/api/1/myself';

const myself = (u: UserRecord) => ({ username: u.username, email: u.email, displayName: u.displayName });

/** A JSON answer that no cache may keep: the same bytes and headers on both paths. */
export function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** GET (and HEAD) /rest/api/1/myself; `req.body` read by signedBody() when there was one. */
export async function getMyself(s: Wiring, req: ReceivedRequest, res: ServerResponse, ip: string): Promise<void> {
  const { token } = await authenticateApiCall(requestParts(req, s.config), ip, s);
  sendJson(res, myself(token.user));
}

/** POST /rest/api/1/myself with a form body: sets the display name. */
export async function postMyself(s: Wiring, req: ReceivedRequest, res: ServerResponse, ip: string): Promise<void> {
  const { token, params } = await authenticateApiCall(requestParts(req, s.config), ip, s);
  const names = params.form.filter(([k]) => k === 'displayName');
  const [first] = names;
  if (!first) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['displayName'] });
  const parsed = displayNameField.safeParse(first[1]);
  if (names.length > 1 || !parsed.success) {
    throw new OAuthProblem('parameter_rejected', {
      advice: 'displayName must be given once, 1 to 200 characters, without control characters.',
      parametersRejected: ['displayName'],
    });
  }
  // The change and its audit entry in one transaction: both or neither.
  const updated = await s.users.updateOwnDisplayName(
    { user: token.user, consumerId: token.consumerId, tokenId: token.id, ip: ip || null },
    parsed.data,
  );
  sendJson(res, myself(updated));
}

export function apiRouter(s: Wiring): Router {
  const router = Router();
  const raw = signedBody();
  router.get(MYSELF_PATH, raw, (req: Request, res: Response) => getMyself(s, req, res, req.ip ?? ''));
  router.post(MYSELF_PATH, raw, (req: Request, res: Response) => postMyself(s, req, res, req.ip ?? ''));
  return router;
}
