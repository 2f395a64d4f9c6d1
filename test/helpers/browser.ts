// The user's part of the dance over plain HTTP with a cookie jar: sign in, then allow or
// deny on the consent page, exactly as a browser's form posts would.
import { must } from './must';
import { PASSWORD } from './server';

export class CookieJar {
  private readonly cookies = new Map<string, string>();
  store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const pair = must(c.split(';')[0], 'the name=value pair of a Set-Cookie header');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  has(name: string): boolean {
    return this.cookies.has(name);
  }
}

export async function browse(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
  });
  jar.store(res);
  return res;
}

export const csrfOf = (html: string): string => {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field on the page');
  return must(m[1], 'the CSRF token');
};

export const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

export async function signIn(
  base: string,
  jar: CookieJar,
  username: string,
  next?: string,
  password = PASSWORD,
): Promise<Response> {
  const page = await browse(jar, `${base}/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  const html = await page.text();
  const nextField = /name="next" value="([^"]*)"/.exec(html)?.[1] ?? '';
  return browse(
    jar,
    `${base}/login`,
    form({ _csrf: csrfOf(html), username, password, next: nextField.replace(/&#34;/g, '"').replace(/&amp;/g, '&') }),
  );
}

/** Signs in and decides; returns the final response of the decision POST. */
export async function approve(
  base: string,
  requestToken: string,
  username: string,
  decision: 'allow' | 'deny' = 'allow',
): Promise<Response> {
  const jar = new CookieJar();
  const authorizeUrl = `${base}/oauth/authorize?oauth_token=${encodeURIComponent(requestToken)}`;
  const first = await browse(jar, authorizeUrl);
  if (first.status !== 302) throw new Error(`expected a redirect to sign-in, got ${first.status}`);
  const login = await signIn(
    base,
    jar,
    username,
    new URL(must(first.headers.get('location'), 'the Location of the redirect to sign-in'), base).searchParams.get(
      'next',
    ) ?? undefined,
  );
  if (login.status !== 302) throw new Error(`sign-in failed: ${login.status}`);
  const consent = await browse(
    jar,
    new URL(must(login.headers.get('location'), 'the Location after sign-in'), base).toString(),
  );
  const html = await consent.text();
  if (consent.status !== 200) throw new Error(`consent page: ${consent.status} ${html}`);
  return browse(jar, `${base}/oauth/authorize`, form({ _csrf: csrfOf(html), oauth_token: requestToken, decision }));
}

/** The verifier from a decision response: the callback's query or the oob page. */
export async function verifierFrom(res: Response): Promise<string> {
  if (res.status === 302) {
    const v = new URL(must(res.headers.get('location'), 'the Location of the callback redirect')).searchParams.get(
      'oauth_verifier',
    );
    if (!v) throw new Error('no verifier in the callback');
    return v;
  }
  const m = /id="verifier">([^<]+)</.exec(await res.text());
  if (!m) throw new Error('no verifier on the page');
  return must(m[1], 'the verifier');
}
