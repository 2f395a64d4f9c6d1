/** The protected resources: who the token acts for, read and (display name) written. */
import { Router, type Request, type Response } from 'express';
import { authenticateApiCall } from '../oauth1/flows/api-call';
import { OAuthProblem } from '../oauth1/problems';
import { requestParts } from './request-parts';
import { signedBody } from './body';
import type { Services } from '../services';
import type { UserRecord } from '../oauth1/ports';
import { displayNameField } from '../services/fields';

const myself = (u: UserRecord) => ({ username: u.username, email: u.email, displayName: u.displayName });

export function apiRouter(s: Services): Router {
  const router = Router();
  const raw = signedBody();

  router.get('/rest/api/1/myself', raw, async (req: Request, res: Response) => {
    const { token } = await authenticateApiCall(requestParts(req, s.config), req.ip ?? '', s);
    res.set('Cache-Control', 'no-store').json(myself(token.user));
  });

  router.post('/rest/api/1/myself', raw, async (req: Request, res: Response) => {
    const { token, params } = await authenticateApiCall(requestParts(req, s.config), req.ip ?? '', s);
    const names = params.form.filter(([k]) => k === 'displayName');
    if (names.length === 0) throw new OAuthProblem('parameter_absent', { parametersAbsent: ['displayName'] });
    const parsed = displayNameField.safeParse(names[0]![1]);
    if (names.length > 1 || !parsed.success) {
      throw new OAuthProblem('parameter_rejected', {
        advice: 'displayName must be given once, 1 to 200 characters, without control characters.',
        parametersRejected: ['displayName'],
      });
    }
    // The change and its audit entry in one transaction: both or neither.
    const updated = await s.users.updateOwnDisplayName(
      { user: token.user, consumerId: token.consumerId, tokenId: token.id, ip: req.ip ?? null },
      parsed.data,
    );
    res.set('Cache-Control', 'no-store').json(myself(updated));
  });

  return router;
}
