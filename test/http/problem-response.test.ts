// The one serialisation of a problem: WWW-Authenticate carries the body's parameters,
// each percent-encoded as RFC 5849 §3.5.1 / §3.6 encode header values; only a long base
// string is cut, in the header only, at a documented limit and never inside a %XX.
import { describe, expect, it } from 'vitest';
import { OAuthProblem, PROBLEM_STATUS, type ProblemCode } from '../../src/oauth1/problems';
import { HEADER_BASE_STRING_LIMIT, clientErrorResponse, problemBody, problemHeader } from '../../src/http/errors';
import { percentEncode } from '../../src/oauth1/encoding';
import { parseProblemHeader } from '../helpers/problem-header';
import { must } from '../helpers/must';
import { capture } from '../helpers/capture';

const REALM = 'https://links.example.com/applink';
const body = (p: OAuthProblem) => Object.fromEntries(new URLSearchParams(problemBody(p)));

describe('problem header and body', () => {
  it.each(Object.keys(PROBLEM_STATUS) as ProblemCode[])('%s: header and body carry the same parameters', (code) => {
    const p = new OAuthProblem(code);
    expect(problemHeader(p, REALM)).toBe(
      `OAuth realm="${REALM}", oauth_problem="${code}", oauth_problem_advice="${percentEncode(p.advice)}"`,
    );
    expect(parseProblemHeader(problemHeader(p, REALM))).toEqual({ realm: REALM, ...body(p) });
  });

  it('every extra parameter, encoded per §3.6 (space %20, & %26, = %3D, non-ASCII UTF-8)', () => {
    const p = new OAuthProblem('parameter_absent', {
      advice: 'Zoë says: a "quoted" & = + thing, 100%',
      parametersAbsent: ['oauth_nonce', 'oauth_timestamp'],
      parametersRejected: ['oauth_callback'],
      acceptableTimestamps: [1700000000, 1700000600],
      acceptableVersions: '1.0',
      signatureBaseString: 'POST&https%3A%2F%2Fx%2Fy&a%3D1%26b%3D2',
    });
    const h = problemHeader(p, REALM);
    expect(h).toBe(
      `OAuth realm="${REALM}", oauth_problem="parameter_absent", ` +
        'oauth_problem_advice="Zo%C3%AB%20says%3A%20a%20%22quoted%22%20%26%20%3D%20%2B%20thing%2C%20100%25", ' +
        'oauth_parameters_absent="oauth_nonce%26oauth_timestamp", ' +
        'oauth_parameters_rejected="oauth_callback", ' +
        'oauth_acceptable_timestamps="1700000000-1700000600", ' +
        'oauth_acceptable_versions="1.0", ' +
        'oauth_signature_base_string="POST%26https%253A%252F%252Fx%252Fy%26a%253D1%2526b%253D2"',
    );
    expect(parseProblemHeader(h)).toEqual({ realm: REALM, ...body(p) });
    // nothing in a value can end the quoted string or the header
    expect(h).not.toMatch(/[\r\n]/);
  });

  it('cuts a long base string in the header only, at the limit, never inside a %XX', () => {
    for (let pad = 0; pad < 3; pad++) {
      const long = 'GET&https%3A%2F%2Fx%2F&' + 'x'.repeat(pad) + 'a%3D1%26'.repeat(2000);
      const p = new OAuthProblem('signature_invalid', { signatureBaseString: long });
      const inHeader = must(
        parseProblemHeader(problemHeader(p, REALM)).oauth_signature_base_string,
        'the base string in the header',
      );
      expect(body(p).oauth_signature_base_string).toBe(long);
      expect(long.startsWith(inHeader)).toBe(true);
      expect(percentEncode(inHeader).length).toBeLessThanOrEqual(HEADER_BASE_STRING_LIMIT);
      expect(percentEncode(inHeader).length).toBeGreaterThan(HEADER_BASE_STRING_LIMIT - 3);
    }
    const short = new OAuthProblem('signature_invalid', { signatureBaseString: 'GET&a&b' });
    expect(parseProblemHeader(problemHeader(short, REALM)).oauth_signature_base_string).toBe('GET&a&b');
  });

  it('a realm cannot break out of its quoted string', () => {
    const h = problemHeader(new OAuthProblem('token_rejected'), 'http://x/"evil\\');
    expect(h.startsWith('OAuth realm="http://x/\\"evil\\\\", oauth_problem="token_rejected"')).toBe(true);
  });

  it('the raw answer to an unparseable request uses the same header', () => {
    const { raw } = clientErrorResponse(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' }), REALM);
    const header = capture(/\r\nWWW-Authenticate: ([^\r]+)\r\n/, raw, 'the WWW-Authenticate header');
    expect(parseProblemHeader(header)).toMatchObject({ realm: REALM, oauth_problem: 'parameter_rejected' });
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
  });
});
