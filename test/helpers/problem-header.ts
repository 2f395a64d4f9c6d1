// Reads a WWW-Authenticate: OAuth header the way an Atlassian consumer does (net.oauth's
// OAuthMessage.decodeAuthorization): name="value" pairs, values percent-decoded (RFC 5849
// §3.5.1). Anything that is not exactly that shape fails the test.
import { must } from './must';

export function parseProblemHeader(header: string | null): Record<string, string> {
  if (header === null) throw new Error('no WWW-Authenticate header');
  const m = /^OAuth (.*)$/.exec(header);
  if (!m) throw new Error(`not an OAuth challenge: ${header}`);
  const out: Record<string, string> = {};
  const pair = /([a-z_]+)="((?:[^"\\]|\\.)*)"(?:, |$)/y;
  let pos = 0;
  const rest = must(m[1], 'the parameters of the challenge');
  while (pos < rest.length) {
    pair.lastIndex = pos;
    const p = pair.exec(rest);
    if (!p) throw new Error(`malformed challenge at ${pos}: ${header}`);
    const name = must(p[1], 'a parameter name');
    const raw = must(p[2], `the value of ${name}`);
    if (name !== 'realm' && !/^[A-Za-z0-9\-._~%]*$/.test(raw))
      throw new Error(`${name} is not percent-encoded: ${raw}`);
    out[name] = name === 'realm' ? raw.replace(/\\(.)/g, '$1') : decodeURIComponent(raw);
    pos = pair.lastIndex;
  }
  return out;
}
