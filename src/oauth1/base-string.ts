/**
 * The signature base string, RFC 5849 §3.4.1.
 */
import { percentEncode } from './encoding';
import { OAuthProblem } from './problems';
import type { Pair } from './params';

const DEFAULT_PORT: Readonly<Record<string, string>> = { http: '80', https: '443' };

/**
 * §3.4.1.2: scheme and host lower-cased, the default port dropped, the path kept as sent
 * (an empty path becomes `/`), query and fragment removed.
 * `origin` is `scheme://host[:port]`; `target` is the request target (path and query).
 */
export function baseStringUri(origin: string, target: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?$/.exec(origin);
  const [, rawScheme, rawHost, port] = m ?? [];
  if (rawScheme === undefined || rawHost === undefined) {
    throw new OAuthProblem('parameter_rejected', { advice: 'The request URL cannot be parsed.' });
  }
  const scheme = rawScheme.toLowerCase();
  const host = rawHost.toLowerCase();
  const authority = port && port !== DEFAULT_PORT[scheme] ? `${host}:${port}` : host;
  let end = target.length;
  const q = target.indexOf('?');
  if (q !== -1) end = q;
  const h = target.indexOf('#');
  if (h !== -1 && h < end) end = h;
  let path = target.slice(0, end);
  if (path === '') path = '/';
  else path = normalisePathChars(path);
  return `${scheme}://${authority}${path}`;
}

/** Splits an absolute URL into the (origin, target) pair baseStringUri takes. */
export function splitUrl(url: string): { origin: string; target: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)(.*)$/s.exec(url);
  const [, origin, target] = m ?? [];
  if (origin === undefined || target === undefined) {
    throw new OAuthProblem('parameter_rejected', { advice: 'The request URL cannot be parsed.' });
  }
  return { origin, target };
}

// Characters that may appear raw in a path (RFC 3986 pchar plus "/" and "%" of escapes).
const PATH_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

function normalisePathChars(path: string): string {
  if (PATH_OK.test(path)) return path;
  return path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => encodeURIComponent(c));
}

/**
 * §3.4.1.3.2: encode every name and value, sort by encoded name then encoded value in
 * byte order, join as name=value with `&`.
 */
export function normaliseParams(params: readonly Pair[]): string {
  return sortedEncodedPairs(params).join('&');
}

function sortedEncodedPairs(params: readonly Pair[]): string[] {
  const encoded: string[] = [];
  for (const [name, value] of params) encoded.push(percentEncode(name) + '=' + percentEncode(value));
  // Sorting "name=value" strings as wholes is wrong when one name is a prefix of another
  // ("a=" vs "a-"), so compare the encoded name first, then the value.
  return encoded.sort(compareEncodedPairs);
}

function compareEncodedPairs(a: string, b: string): number {
  // Compared in place (no substrings): the names up to their '=', then the values.
  const ia = a.indexOf('=');
  const ib = b.indexOf('=');
  const n = Math.min(ia, ib);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  if (ia !== ib) return ia - ib; // one name is a prefix of the other: the shorter first
  const la = a.length - ia;
  const lb = b.length - ib;
  const m = Math.min(la, lb);
  for (let i = 1; i < m; i++) {
    const d = a.charCodeAt(ia + i) - b.charCodeAt(ib + i);
    if (d !== 0) return d;
  }
  return la - lb;
}

/** §3.4.1.1: METHOD & encode(base string URI) & encode(normalised parameters). */
export function signatureBaseString(method: string, uri: string, params: readonly Pair[]): string {
  return `${percentEncode(method.toUpperCase())}&${percentEncode(uri)}&${encodedNormalisedParams(params)}`;
}

/**
 * encode(normaliseParams(params)) without encoding the joined string a second time: the
 * normalised string holds only unreserved characters, `%XX` escapes, one `=` per pair and
 * the `&` between them, which encode to `%25`, `%3D` and `%26`.
 */
function encodedNormalisedParams(params: readonly Pair[]): string {
  const encoded = sortedEncodedPairs(params);
  let out = '';
  let separator = '';
  for (let e of encoded) {
    if (e.indexOf('%') !== -1) e = e.replace(PERCENT, '%25');
    const eq = e.indexOf('=');
    out += separator + e.slice(0, eq) + '%3D' + e.slice(eq + 1);
    separator = '%26';
  }
  return out;
}

const PERCENT = /%/g;
