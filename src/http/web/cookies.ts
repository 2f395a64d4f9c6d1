/** Reading one cookie off a request without a cookie-parsing middleware on every route. */
import type { Request } from 'express';

/** The value of cookie `name` as the browser sent it (the first one of that name), or null. */
export function cookieValue(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}
