/**
 * Destructive actions confirm first, on a page of their own (no JavaScript needed): the
 * console links to it, and only its form POSTs (with the CSRF token).
 */
import type { Request, Response } from 'express';
import type { WebKit } from '../web';

/** What views/confirm.ejs shows: the question, what happens, the one POST that does it. */
export interface ConfirmPage {
  section: string;
  heading: string;
  message: string;
  consequence?: string;
  action: string;
  confirmLabel: string;
  /** false: a primary button (the action is not destructive) */
  danger?: boolean;
  cancel: string;
}

export type Confirm = (req: Request, res: Response, page: ConfirmPage) => void;

export function confirmPage(web: WebKit): Confirm {
  return (req, res, page) => {
    web.render(req, res, 'confirm', { title: page.heading, ...page });
  };
}
