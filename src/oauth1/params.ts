/**
 * Where a request's parameters come from (RFC 5849 §3.5) and which of them are signed
 * (§3.4.1.3.1). Every source is parsed exactly once, here.
 */
import { parseForm, percentDecode } from './encoding';
import { OAuthProblem } from './problems';

export type Pair = [string, string];
export type ParamSource = 'header' | 'body' | 'query';

/** The parts of an HTTP request the protocol needs, with no web framework attached. */
export interface RequestParts {
  method: string;
  /** scheme://authority of the request as the consumer addressed it (see baseStringUri) */
  origin: string;
  /** the request target as received: path plus optional `?query` */
  target: string;
  authorization?: string | undefined;
  contentType?: string | undefined;
  /** the raw entity body, when there is one */
  body?: Buffer | undefined;
}

export interface CollectedParams {
  /** every signed parameter: header (minus realm), query and form body, minus oauth_signature */
  signed: Pair[];
  /** the protocol parameters (`oauth_*`), each present at most once */
  oauth: Readonly<Record<string, string>>;
  /** `oauth_signature` as sent (decoded) */
  signature: string | undefined;
  /** where the protocol parameters came from */
  source: ParamSource | undefined;
  /** query pairs, decoded */
  query: Pair[];
  /** form-body pairs, decoded (empty unless the body is form-encoded) */
  form: Pair[];
  /** true when the body is application/x-www-form-urlencoded */
  formEncoded: boolean;
}

/**
 * Input limits of the protocol core; anything larger is parameter_rejected. The HTTP layer
 * adds its own (request head 16 KiB, body 64 KiB), which also bound every other value.
 */
export const LIMITS = Object.freeze({
  /** the Authorization header, characters */
  authorizationHeader: 8192,
  /** parameters of one request: header, query and form body together */
  parameters: 1000,
  /** the value of any one oauth_* parameter, characters (an 8192-bit RSA signature is 1368) */
  protocolValue: 2048,
});

// One `name="value"` element of the header, with the separating comma.
const HEADER_PARAM = /\s*([^\s=,"]+)\s*=\s*"([^"]*)"\s*(?:,|$)/y;

/**
 * Parses `Authorization: OAuth ...` (§3.5.1). Returns undefined when the header is absent
 * or uses another scheme; a malformed OAuth header is parameter_rejected.
 * `realm` is dropped: it is not a signed parameter.
 */
export function parseAuthorizationHeader(header: string | undefined): Pair[] | undefined {
  if (!header) return undefined;
  const m = /^\s*OAuth(?:\s+|$)/i.exec(header);
  if (!m) return undefined;
  if (header.length > LIMITS.authorizationHeader) {
    throw new OAuthProblem('parameter_rejected', {
      advice: `The Authorization header is longer than ${LIMITS.authorizationHeader} characters.`,
    });
  }
  const rest = header.slice(m[0].length);
  const pairs: Pair[] = [];
  if (rest.trim() === '') return pairs;
  HEADER_PARAM.lastIndex = 0;
  let pos = 0;
  while (pos < rest.length) {
    HEADER_PARAM.lastIndex = pos;
    const p = HEADER_PARAM.exec(rest);
    if (!p || p.index !== pos) {
      if (rest.slice(pos).trim() === '') break;
      throw new OAuthProblem('parameter_rejected', {
        advice: 'The Authorization header is not a valid OAuth header (name="value", comma-separated).',
      });
    }
    pos = HEADER_PARAM.lastIndex;
    const name = percentDecode(p[1] ?? '');
    if (name === 'realm') continue;
    pairs.push([name, percentDecode(p[2] ?? '')]);
  }
  return pairs;
}

/** True when a Content-Type names the form media type (parameters such as charset allowed). */
export function isFormContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const media = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return media === 'application/x-www-form-urlencoded';
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Collects the request's parameters from header, query and form body in one pass and
 * enforces the single-source rule: every `oauth_*` parameter appears once, and all of
 * them come from the same place. Parsing problems are parameter_rejected.
 */
export function collectParams(req: RequestParts): CollectedParams {
  const header = parseAuthorizationHeader(req.authorization);
  const q = req.target.indexOf('?');
  const query = q === -1 ? [] : parseForm(stripFragment(req.target.slice(q + 1)), LIMITS.parameters);
  const formEncoded = isFormContentType(req.contentType);
  const form = formEncoded && req.body && req.body.length > 0 ? parseForm(decodeUtf8(req.body), LIMITS.parameters) : [];
  if ((header?.length ?? 0) + query.length + form.length > LIMITS.parameters) {
    throw new OAuthProblem('parameter_rejected', { advice: `At most ${LIMITS.parameters} parameters are accepted.` });
  }

  const oauth: Record<string, string> = {};
  let source: ParamSource | undefined;
  let signature: string | undefined;
  const signed: Pair[] = [];
  const take = (pairs: Pair[], from: ParamSource): void => {
    for (const pair of pairs) {
      const name = pair[0];
      if (name.startsWith('oauth_')) {
        if (source !== undefined && source !== from) {
          throw new OAuthProblem('parameter_rejected', {
            advice: `Protocol parameters must all come from one place; found them in the ${source} and the ${from}.`,
            parametersRejected: [name],
          });
        }
        source = from;
        if (pair[1].length > LIMITS.protocolValue) {
          throw new OAuthProblem('parameter_rejected', {
            advice: `The protocol parameter ${name} is longer than ${LIMITS.protocolValue} characters.`,
            parametersRejected: [name],
          });
        }
        if (Object.prototype.hasOwnProperty.call(oauth, name)) {
          throw new OAuthProblem('parameter_rejected', {
            advice: `The protocol parameter ${name} appears more than once.`,
            parametersRejected: [name],
          });
        }
        oauth[name] = pair[1];
        if (name === 'oauth_signature') {
          signature = pair[1];
          continue;
        }
      }
      signed.push(pair);
    }
  };
  if (header) take(header, 'header');
  take(query, 'query');
  take(form, 'body');
  return {
    signed,
    oauth: source === undefined ? EMPTY : oauth,
    signature,
    source,
    query,
    form,
    formEncoded,
  };
}

function stripFragment(s: string): string {
  const h = s.indexOf('#');
  return h === -1 ? s : s.slice(0, h);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(body: Buffer): string {
  try {
    return UTF8.decode(body);
  } catch {
    throw new OAuthProblem('parameter_rejected', { advice: 'The form body is not valid UTF-8.' });
  }
}
