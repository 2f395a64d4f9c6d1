// Two independent npm OAuth 1.0a clients behind one small interface, so the same dance
// runs through both: `oauth-1.0a` (signing only; we send with fetch) and `oauth` (node-oauth).
import { createHmac, sign } from 'node:crypto';
import OAuth1a from 'oauth-1.0a';
import { OAuth as NodeOAuth } from 'oauth';
import { formatForm } from '../../src/oauth1/encoding';
import { must } from './must';

export type Method = 'HMAC-SHA1' | 'RSA-SHA1';
export interface Answer {
  status: number;
  body: string;
  headers?: Headers;
}
export interface Client {
  name: string;
  requestToken(callback: string): Promise<{ token: string; secret: string; confirmed: string | undefined }>;
  accessToken(token: string, secret: string, verifier: string): Promise<{ token: string; secret: string }>;
  get(url: string, query: Record<string, string>, token: string, secret: string): Promise<Answer>;
  postForm(url: string, form: Record<string, string>, token: string, secret: string): Promise<Answer>;
}

interface Creds {
  base: string;
  key: string;
  secret: string | null;
  privateKey: string;
  method: Method;
}

/** node-oauth calls back with `null` on success; its typings leave that out. */
type NodeOAuthError = Error | { statusCode: number; data?: unknown } | null;

const parse = (body: string) => Object.fromEntries(new URLSearchParams(body));

export function oauth1aClient(c: Creds): Client {
  const oauth = new OAuth1a({
    consumer: { key: c.key, secret: c.secret ?? '' },
    signature_method: c.method,
    hash_function: (base: string, key: string) =>
      c.method === 'HMAC-SHA1'
        ? createHmac('sha1', key).update(base).digest('base64')
        : sign('sha1', Buffer.from(base), c.privateKey).toString('base64'),
  });
  const call = async (
    method: string,
    url: string,
    data: Record<string, string>,
    token?: { key: string; secret: string },
    body?: Record<string, string>,
  ) => {
    const auth = oauth.authorize({ url, method, data: { ...data, ...body } }, token);
    const header = oauth.toHeader(auth);
    const query = Object.entries(data).filter(([k]) => !k.startsWith('oauth_'));
    const full = query.length ? `${url}?${formatForm(query)}` : url;
    const res = await fetch(full, {
      method,
      headers: { ...header, ...(body && { 'content-type': 'application/x-www-form-urlencoded' }) },
      body: body ? formatForm(Object.entries(body)) : undefined,
    });
    return { status: res.status, body: await res.text(), headers: res.headers };
  };
  return {
    name: 'oauth-1.0a',
    async requestToken(callback) {
      const r = await call('POST', `${c.base}/oauth/request-token`, { oauth_callback: callback });
      if (r.status !== 200) throw new Error(`request token: ${r.status} ${r.body}`);
      const p = parse(r.body);
      return {
        token: must(p.oauth_token, 'oauth_token in the request-token answer'),
        secret: must(p.oauth_token_secret, 'oauth_token_secret in the request-token answer'),
        confirmed: p.oauth_callback_confirmed,
      };
    },
    async accessToken(token, secret, verifier) {
      const r = await call(
        'POST',
        `${c.base}/oauth/access-token`,
        { oauth_verifier: verifier },
        { key: token, secret },
      );
      if (r.status !== 200) throw new Error(`access token: ${r.status} ${r.body}`);
      const p = parse(r.body);
      return {
        token: must(p.oauth_token, 'oauth_token in the access-token answer'),
        secret: must(p.oauth_token_secret, 'oauth_token_secret in the access-token answer'),
      };
    },
    get: (url, query, token, secret) => call('GET', url, query, { key: token, secret }),
    postForm: (url, form, token, secret) => call('POST', url, {}, { key: token, secret }, form),
  };
}

export function nodeOAuthClient(c: Creds, callback: string): Client {
  const client = new NodeOAuth(
    `${c.base}/oauth/request-token`,
    `${c.base}/oauth/access-token`,
    c.key,
    c.method === 'RSA-SHA1' ? c.privateKey : (c.secret ?? ''),
    '1.0',
    callback,
    c.method,
  );
  const answer =
    (resolve: (a: Answer) => void) => (err: { statusCode: number; data?: string } | null, data?: string | Buffer) =>
      resolve(err ? { status: err.statusCode, body: err.data ?? '' } : { status: 200, body: String(data ?? '') });
  return {
    name: 'oauth',
    requestToken: () =>
      new Promise((resolve, reject) =>
        client.getOAuthRequestToken((err: NodeOAuthError, token: string, secret: string, results: unknown) =>
          err
            ? reject(new Error(`request token: ${JSON.stringify(err)}`))
            : resolve({ token, secret, confirmed: (results as Record<string, string>).oauth_callback_confirmed }),
        ),
      ),
    accessToken: (token, secret, verifier) =>
      new Promise((resolve, reject) =>
        client.getOAuthAccessToken(token, secret, verifier, (err: NodeOAuthError, t: string, s: string) =>
          err ? reject(new Error(`access token: ${JSON.stringify(err)}`)) : resolve({ token: t, secret: s }),
        ),
      ),
    get: (url, query, token, secret) =>
      new Promise((resolve) => {
        const q = Object.keys(query).length ? `?${formatForm(Object.entries(query))}` : '';
        client.get(url + q, token, secret, answer(resolve));
      }),
    postForm: (url, form, token, secret) =>
      new Promise((resolve) =>
        client.post(url, token, secret, form, 'application/x-www-form-urlencoded', answer(resolve)),
      ),
  };
}
