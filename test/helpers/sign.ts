// Hand-made signed requests for the problem tests: every protocol parameter can be
// overridden, dropped or moved, and the signature is computed with the core's own
// functions over exactly what is sent (unless a test asks for a wrong one).
import { randomBytes, sign as rsaSign } from 'node:crypto';
import { formatForm, percentEncode } from '../../src/oauth1/encoding';
import { baseStringUri, signatureBaseString } from '../../src/oauth1/base-string';
import { hmacSignature, plaintextSignature } from '../../src/oauth1/signature';
import { must } from './must';

export interface SignOptions {
  method?: string;
  /** absolute URL the client believes it calls (signed); defaults to `url` */
  signedUrl?: string;
  consumerKey: string;
  consumerSecret?: string | null;
  privateKey?: string;
  token?: string;
  tokenSecret?: string;
  signatureMethod?: string;
  /** extra/overriding oauth_* parameters; `null` drops one */
  oauth?: Record<string, string | null>;
  query?: Array<[string, string]>;
  form?: Array<[string, string]>;
  /** where the protocol parameters go */
  place?: 'header' | 'query' | 'body';
  /** sign, then replace the signature with this */
  signatureOverride?: string;
  headers?: Record<string, string>;
  body?: string;
}

export function nonce(): string {
  return randomBytes(12).toString('hex');
}

export function buildSignedRequest(
  url: string,
  o: SignOptions,
): { url: string; init: RequestInit; baseString: string } {
  const method = o.method ?? 'GET';
  const sm = o.signatureMethod ?? 'HMAC-SHA1';
  const oauth = new Map<string, string>(
    Object.entries({
      oauth_consumer_key: o.consumerKey,
      oauth_nonce: nonce(),
      oauth_signature_method: sm,
      oauth_timestamp: String(Math.floor(Date.now() / 1000)),
      oauth_version: '1.0',
      ...(o.token !== undefined && { oauth_token: o.token }),
    }),
  );
  for (const [k, v] of Object.entries(o.oauth ?? {})) {
    if (v === null) oauth.delete(k);
    else oauth.set(k, v);
  }
  const query = o.query ?? [];
  const form = o.form ?? [];
  const place = o.place ?? 'header';
  const signedUrl = new URL(o.signedUrl ?? url);
  const oauthPairs = [...oauth];
  const base = signatureBaseString(method, baseStringUri(signedUrl.origin, signedUrl.pathname), [
    ...oauthPairs,
    ...query,
    ...form,
  ]);
  let signature: string;
  if (sm === 'RSA-SHA1' || sm === 'RSA-SHA256') {
    signature = rsaSign(
      sm === 'RSA-SHA1' ? 'sha1' : 'sha256',
      Buffer.from(base),
      must(o.privateKey, 'the private key for an RSA signature'),
    ).toString('base64');
  } else if (sm === 'PLAINTEXT') {
    signature = plaintextSignature(o.consumerSecret ?? '', o.tokenSecret ?? '');
  } else {
    signature = hmacSignature(
      sm === 'HMAC-SHA256' ? 'HMAC-SHA256' : 'HMAC-SHA1',
      base,
      o.consumerSecret ?? '',
      o.tokenSecret ?? '',
    );
  }
  if (o.signatureOverride !== undefined) signature = o.signatureOverride;
  const all: Array<[string, string]> = [...oauthPairs, ['oauth_signature', signature]];

  const headers: Record<string, string> = { ...o.headers };
  let q = [...query];
  let f = [...form];
  if (place === 'header') {
    headers.authorization =
      'OAuth realm="test", ' + all.map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(', ');
  } else if (place === 'query') q = [...q, ...all];
  else f = [...f, ...all];
  let body: string | undefined = o.body;
  if (f.length > 0 || place === 'body') {
    body = formatForm(f);
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  }
  const target = new URL(url);
  const full = `${target.origin}${target.pathname}${q.length ? `?${formatForm(q)}` : ''}`;
  return { url: full, init: { method, headers, body }, baseString: base };
}

export async function signedFetch(
  url: string,
  o: SignOptions,
): Promise<{ status: number; body: string; params: Record<string, string>; headers: Headers; baseString: string }> {
  const r = buildSignedRequest(url, o);
  const res = await fetch(r.url, { ...r.init, redirect: 'manual' });
  const body = await res.text();
  return {
    status: res.status,
    body,
    params: Object.fromEntries(new URLSearchParams(body)),
    headers: res.headers,
    baseString: r.baseString,
  };
}
