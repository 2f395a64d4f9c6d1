// One sign-in attempt as a browser makes it (the form page, then its post) from a given
// client address (trusted X-Forwarded-For: the server needs APPLINK_TRUST_PROXY).
import { browse, CookieJar, csrfOf, form } from './browser';

export async function attempt(base: string, username: string, password: string, from: string): Promise<Response> {
  const jar = new CookieJar();
  const headers = { 'x-forwarded-for': from };
  const page = await browse(jar, `${base}/login`, { headers });
  return browse(jar, `${base}/login`, {
    ...form({ _csrf: csrfOf(await page.text()), username, password }),
    headers: { ...form({}).headers, ...headers },
  });
}
