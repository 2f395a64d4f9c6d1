// The consumer side of the benchmarks: requests signed by a real npm client (oauth-1.0a),
// as a linked application would send them, each with its own nonce.
import { must } from './must';
import { createHmac, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import OAuth from 'oauth-1.0a';

export type Method = 'HMAC-SHA1' | 'RSA-SHA1';

export interface ConsumerCreds {
  key: string;
  method: Method;
  secret?: string | null;
  privateKeyPem?: string;
}

export interface TokenCreds {
  key: string;
  secret: string;
}

/** A ready-to-send request. */
export interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!*'()]/g, (c) => '%' + c.charCodeAt(0).toString(16));

export const formBody = (data: Record<string, string>): string =>
  Object.entries(data)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');

export class Signer {
  private readonly oauth: OAuth;
  private readonly privateKey: KeyObject | null;

  constructor(c: ConsumerCreds) {
    this.privateKey = c.privateKeyPem ? createPrivateKey(c.privateKeyPem) : null;
    this.oauth = new OAuth({
      consumer: { key: c.key, secret: c.secret ?? '' },
      signature_method: c.method,
      hash_function: (base: string, key: string) =>
        c.method === 'HMAC-SHA1'
          ? createHmac('sha1', key).update(base).digest('base64')
          : sign('sha1', Buffer.from(base), must(this.privateKey, 'the RSA private key')).toString('base64'),
    });
  }

  /**
   * A signed request to `origin + path`. `form` is sent as an
   * application/x-www-form-urlencoded body (and signed); `oauth` adds protocol
   * parameters such as oauth_callback or oauth_verifier.
   */
  request(
    method: string,
    origin: string,
    path: string,
    opts: { token?: TokenCreds; form?: Record<string, string>; oauth?: Record<string, string> } = {},
  ): Req {
    const data = { ...opts.oauth, ...opts.form };
    const auth = this.oauth.authorize({ url: origin + path, method, data }, opts.token);
    // toHeader sends only what authorize generated; extra protocol parameters go along too
    const header = this.oauth.toHeader({ ...auth, ...opts.oauth }).Authorization;
    const headers: Record<string, string> = { authorization: header };
    if (opts.form) {
      const body = formBody(opts.form);
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
      return { method, path, headers, body };
    }
    if (method !== 'GET') headers['content-length'] = '0';
    return { method, path, headers };
  }
}
