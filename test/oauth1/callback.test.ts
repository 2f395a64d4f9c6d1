// The registered-callback check compares what a browser and the consumer's server will
// resolve: WHATWG-parsed, normalised paths; encodings servers read differently are refused
// rather than guessed at.
import { describe, expect, it } from 'vitest';
import { checkCallback, normalisedPath } from '../../src/oauth1/flows/request-token';
import { OAuthProblem } from '../../src/oauth1/problems';

const REG = 'https://wiki.example.com/app/cb';
const JIRA = 'https://jira.example/plugins/servlet/applinks/oauth/login-dance/access';

function outcome(callback: string, registered: string | null = REG): 'ok' | 'rejected' {
  try {
    checkCallback(callback, registered);
    return 'ok';
  } catch (e) {
    if (!(e instanceof OAuthProblem)) throw e;
    expect(e.code).toBe('parameter_rejected');
    expect(e.details.parametersRejected).toEqual(['oauth_callback']);
    return 'rejected';
  }
}

describe('checkCallback against a registered callback', () => {
  it.each([
    'https://wiki.example.com/app/cb',
    'https://wiki.example.com/app/cb?x=1&y=%2F..%2F',
    'https://wiki.example.com/app/cb/',
    'https://wiki.example.com/app/cb/deeper/still',
    'https://WIKI.example.COM/app/cb',
    'https://wiki.example.com:443/app/cb',
    'https://wiki.example.com/app/%63b', // %63 = c: the same path
    'https://wiki.example.com/app/cb/%7Euser',
    'https://wiki.example.com/app/x/../cb/ok', // resolved by the browser to /app/cb/ok
    'https://wiki.example.com/app/cb/./ok',
    'https://wiki.example.com/app/cb/a%20b',
    'https://wiki.example.com/app/cb#fragment',
  ])('accepts %s', (cb) => {
    expect(outcome(cb)).toBe('ok');
  });

  it.each([
    // outside the prefix after the browser's own resolution
    'https://wiki.example.com/app/cb/../evil',
    'https://wiki.example.com/app/cb/%2e%2e/evil',
    'https://wiki.example.com/app/cb/%2E%2E/evil',
    'https://wiki.example.com/app/cb/.%2e/evil',
    'https://wiki.example.com/app/cb/%2e./evil',
    'https://wiki.example.com/app/cb\\..\\evil',
    'https://wiki.example.com/app/cb/..\\evil',
    'https://wiki.example.com/app/cbevil',
    'https://wiki.example.com/app/c',
    'https://wiki.example.com/app/cb;/../../evil',
    // what a server may decode into a traversal: refused, not guessed
    'https://wiki.example.com/app/cb/..%2f..%2fevil',
    'https://wiki.example.com/app/cb/..%2F..%2Fevil',
    'https://wiki.example.com/app/cb/%2e%2e%2fevil',
    'https://wiki.example.com/app/cb/..%5c..%5cevil',
    'https://wiki.example.com/app/cb/%2e%2e%5Cevil',
    'https://wiki.example.com/app/cb/a%2fb',
    'https://wiki.example.com/app/cb/..;/..;/evil',
    'https://wiki.example.com/app/cb/.;x/evil',
    'https://wiki.example.com/app/cb/%252e%252e%252fevil',
    'https://wiki.example.com/app/cb/%252e%252e/evil',
    'https://wiki.example.com/app/cb/%00/evil',
    'https://wiki.example.com/app/cb/%0d%0aSet-Cookie:x',
    'https://wiki.example.com/app/cb/%7f',
    // other origin
    'http://wiki.example.com/app/cb',
    'https://wiki.example.com:8443/app/cb',
    'https://wiki.example.com.evil.example/app/cb',
    'https://evil.example/app/cb',
    'https://wiki.example.com@evil.example/app/cb',
    'https://user:pw@wiki.example.com/app/cb',
    'https://wiki.example.com./app/cb',
    'javascript:alert(1)//wiki.example.com/app/cb',
    'https://wiki.example.com/app/cb\u0000',
    'https://wiki.example.com/app/cb\t/../evil',
    '/app/cb',
    '',
  ])('refuses %s', (cb) => {
    expect(outcome(cb)).toBe('rejected');
  });

  it("Jira's login-dance callback with its encoded redirectUrl is under the registered one", () => {
    const cb = `${JIRA}?applicationLinkID=6f1d5a34-0c83-3f6b-9c2d-2f61a4b4c5d6&redirectUrl=${encodeURIComponent(
      'https://jira.example/secure/Dashboard.jspa?a=1&b=../..',
    )}`;
    expect(outcome(cb, JIRA)).toBe('ok');
    expect(outcome(cb.replace('/access?', '/access/..%2f..%2fevil?'), JIRA)).toBe('rejected');
  });

  it('a registered callback that is itself ambiguous refuses every callback', () => {
    expect(outcome('https://wiki.example.com/app/cb', 'https://wiki.example.com/app/%2e%2e%2fcb')).toBe('rejected');
    expect(outcome('https://wiki.example.com/app', 'https://wiki.example.com/app/..;/')).toBe('rejected');
  });

  it('a registered root accepts every path of its origin, still refusing ambiguous ones', () => {
    expect(outcome('https://wiki.example.com/anything/at/all', 'https://wiki.example.com')).toBe('ok');
    expect(outcome('https://wiki.example.com/a/..%2fb', 'https://wiki.example.com/')).toBe('rejected');
  });

  it('without a registration: any http(s) URL or oob, nothing else', () => {
    expect(outcome('oob', null)).toBe('ok');
    expect(outcome('https://anywhere.example/x', null)).toBe('ok');
    expect(outcome('ftp://anywhere.example/x', null)).toBe('rejected');
    expect(outcome('data:text/html,x', null)).toBe('rejected');
  });

  it('normalisedPath decodes unreserved escapes and upper-cases the others', () => {
    expect(normalisedPath('/a/%7e%41%2D%5f%2e%3a%c3%a9')).toBe('/a/~A-_.%3A%C3%A9');
    expect(normalisedPath('/a/%2Fb')).toBeNull();
    expect(normalisedPath('/a/%2e%2E')).toBeNull(); // decoded to '..'
    expect(normalisedPath('/a/..;jsessionid=1/b')).toBeNull();
  });
});
