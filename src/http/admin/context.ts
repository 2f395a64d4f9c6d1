/**
 * What every part of the admin console shares: its dependencies (what app.ts hands over),
 * the console's URL, the guards of a POST, who is acting, and the confirm page.
 */
import type { Request, RequestHandler } from 'express';
import { requireCsrf, signedInUser, type WebKit } from '../web';
import { formText } from '../forms';
import type { FailureEntry } from '../../db/failure-log';
import type { ManagementServices } from '../../wiring';
import type { UserRecord } from '../../oauth1/ports';
import { adminActor, type Actor } from '../../services/actor';
import { confirmPage, type Confirm } from './confirm';

export interface AdminRouterDeps {
  basePath: string;
  /** the service's public root URL for this request (src/http/request-parts.ts publicRoot) */
  publicRoot: (req: Request) => string;
  /** true when APPLINK_BASE_URL is not set (the root is derived from each request) */
  derivedBaseUrl: boolean;
  services: Pick<ManagementServices, 'consumers' | 'users' | 'grants' | 'audits'>;
  /** the failure log's reads (src/db/failure-log.ts): diagnostics, newest first */
  failures: {
    recent(consumerId: number): Promise<FailureEntry[]>;
    unknownKeys(): Promise<FailureEntry[]>;
  };
  /** the signed-in user of the request */
  currentUser: (req: Request) => Promise<UserRecord | null>;
  /** lets administrators through (403 for others, the sign-in page for strangers) */
  requireAdmin: RequestHandler;
}

/** One console part's view of the whole: built once per router by adminContext(). */
export interface AdminContext {
  d: AdminRouterDeps;
  web: WebKit;
  /** the console's own URL path: `<base path>/admin` */
  base: string;
  /** the guards in front of every POST: the form body, then the CSRF check */
  post: RequestHandler[];
  /** the signed-in administrator (the guard let them in) */
  me: (req: Request) => Promise<UserRecord>;
  /** the administrator as the actor of a service action */
  actor: (req: Request) => Promise<Actor>;
  confirm: Confirm;
}

export function adminContext(d: AdminRouterDeps, web: WebKit): AdminContext {
  const me = signedInUser(d.currentUser);
  return {
    d,
    web,
    base: `${d.basePath}/admin`,
    post: [web.form, requireCsrf(web)],
    me,
    actor: async (req) => adminActor(await me(req), req.ip ?? null),
    confirm: confirmPage(web),
  };
}

/** A re-shown form's field as text (anything else: empty). */
export const text = (v: unknown): string => formText.parse(v);
