// Route configuration, matching and the rewriting of the request target, as pure functions,
// and the configuration errors that name APPLINK_GATEWAY_*.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { configVariable, ServiceError } from '../../src/errors';
import { ACCEPTED_PATHS as accepted, REFUSED_PATHS as refused } from './path-cases';
import { must } from '../helpers/must';
import {
  matchRoute,
  nonCanonicalPath,
  parseGatewayRoutes,
  upstreamTarget,
  withoutOAuthPairs,
} from '../../src/gateway/routes';
import {
  clientResponseHeaders,
  filterCookieHeader,
  GATEWAY_CSP,
  headerPolicy,
  scopeSetCookie,
  upstreamRequestHeaders,
} from '../../src/gateway/headers';

describe('APPLINK_GATEWAY_ROUTES', () => {
  it('parses prefixes and upstreams, longest prefix first', () => {
    const routes = parseGatewayRoutes(
      ' /tracker=http://127.0.0.1:8080 ,/tracker/api=https://api.example/v2/, /wiki=http://[::1]:9/',
    );
    expect(routes.map((r) => [r.prefix, r.upstream.href])).toEqual([
      ['/tracker/api', 'https://api.example/v2'],
      ['/tracker', 'http://127.0.0.1:8080/'],
      ['/wiki', 'http://[::1]:9/'],
    ]);
  });

  it.each([
    ['tracker=http://x', 'must be a path'],
    ['/tracker/=http://x', 'must be a path'],
    ['/a/../b=http://x', 'must be a path'],
    ['/a b=http://x', 'must be a path'],
    ['/tracker', 'is not /prefix=http://upstream'],
    ['/tracker=not a url', 'not an absolute URL'],
    ['/tracker=ftp://x', 'must be http: or https:'],
    ['/tracker=http://u:p@x', 'no query, fragment or credentials'],
    ['/tracker=http://x/?a=1', 'no query, fragment or credentials'],
    ['/t=http://x,/t=http://y', 'given twice'],
    ['/oauth=http://x', "collides with applink's own /oauth"],
    ['/REST/x=http://x', "collides with applink's own /rest"],
    ['/.well-known=http://x', 'must be a path'],
    ['/healthz=http://x', 'collides'],
  ])('%s is refused: %s', (value, message) => {
    expect(() => loadConfig({ APPLINK_GATEWAY_ROUTES: value })).toThrow(ServiceError);
    try {
      loadConfig({ APPLINK_GATEWAY_ROUTES: value });
    } catch (e) {
      expect(configVariable(e)).toBe('APPLINK_GATEWAY_ROUTES');
      expect((e as Error).message).toContain(message);
    }
  });

  it('timeouts and the buffer limit are validated, with defaults', () => {
    const c = loadConfig({});
    expect(c.gatewayRoutes).toEqual([]);
    expect(c.gatewayTimeout).toBe(30_000);
    expect(c.gatewayBufferLimit).toBe(1024 * 1024);
    expect(loadConfig({ APPLINK_GATEWAY_TIMEOUT: '5' }).gatewayTimeout).toBe(5000);
    for (const [name, value] of [
      ['APPLINK_GATEWAY_TIMEOUT', '0'],
      ['APPLINK_GATEWAY_TIMEOUT', '1.5'],
      ['APPLINK_GATEWAY_TIMEOUT', 'soon'],
      ['APPLINK_GATEWAY_BUFFER_LIMIT', '10'],
      ['APPLINK_GATEWAY_BUFFER_LIMIT', '1e6'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(name);
    }
  });
});

describe('APPLINK_BASE_URL and APPLINK_GATEWAY_FORWARD_HEADERS', () => {
  it('gateway routes need a base URL: the issuer is never taken from a Host header', () => {
    expect(() => loadConfig({ APPLINK_GATEWAY_ROUTES: '/t=http://127.0.0.1:1' })).toThrow(
      'APPLINK_BASE_URL: required with APPLINK_GATEWAY_ROUTES',
    );
    try {
      loadConfig({ APPLINK_GATEWAY_ROUTES: '/t=http://127.0.0.1:1' });
    } catch (e) {
      expect(configVariable(e)).toBe('APPLINK_BASE_URL');
      expect((e as Error).message).not.toContain('\n');
    }
    const c = loadConfig({ APPLINK_GATEWAY_ROUTES: '/t=http://127.0.0.1:1', APPLINK_BASE_URL: 'https://a.example' });
    expect(c.gatewayRoutes).toHaveLength(1);
    expect(loadConfig({}).gatewayRoutes).toEqual([]); // no routes, no requirement
  });

  it('extra forwarded headers: names only, lower-cased; applink-set, hop-by-hop and identity names refused', () => {
    expect(loadConfig({}).gatewayForwardHeaders).toEqual([]);
    expect(loadConfig({ APPLINK_GATEWAY_FORWARD_HEADERS: ' X-Trace-Id, Origin ,' }).gatewayForwardHeaders).toEqual([
      'x-trace-id',
      'origin',
    ]);
    for (const bad of [
      'X-Applink-User',
      'Applink-Jwt-Assertion',
      'X-Forwarded-For',
      'x-forwarded-host',
      'Forwarded',
      'Host',
      'Authorization',
      'Proxy-Authorization',
      'Connection',
      'Upgrade',
      'Transfer-Encoding',
      'Remote-User',
      'X-Remote-User',
      'X-Auth-Request-Email',
      'X-Original-URL',
      'X-Rewrite-URL',
      'True-Client-IP',
      'X-Real-IP',
      'Cf-Access-Jwt-Assertion',
      'CF-Connecting-IP',
      'X_Custom',
      'bad header',
      'a:b',
    ]) {
      expect(() => loadConfig({ APPLINK_GATEWAY_FORWARD_HEADERS: bad }), bad).toThrow(
        'APPLINK_GATEWAY_FORWARD_HEADERS',
      );
    }
  });

  it('refuses to forward the single sign-on header, whatever it is called', () => {
    const sso = {
      APPLINK_SSO_JWKS_URL: 'https://team.cloudflareaccess.com/cdn-cgi/access/certs',
      APPLINK_SSO_ISSUER: 'https://team.cloudflareaccess.com',
      APPLINK_SSO_AUDIENCE: 'aud-tag',
      APPLINK_SSO_HEADER: 'X-Corp-Identity',
    };
    expect(() => loadConfig({ ...sso, APPLINK_GATEWAY_FORWARD_HEADERS: 'X-Trace-Id, x-corp-identity' })).toThrow(
      'x-corp-identity is the single sign-on header',
    );
    // without single sign-on the same name is just a header
    expect(loadConfig({ APPLINK_GATEWAY_FORWARD_HEADERS: 'X-Corp-Identity' }).gatewayForwardHeaders).toEqual([
      'x-corp-identity',
    ]);
  });
});

describe('matching and the upstream target', () => {
  const routes = parseGatewayRoutes('/t=http://up:1,/t/v2=http://up:2/api');

  it('matches at segment boundaries only, longest first', () => {
    expect(matchRoute(routes, '/t')).toMatchObject({ rest: '/', query: '' });
    expect(matchRoute(routes, '/t?x=1')).toMatchObject({ rest: '/', query: 'x=1' });
    expect(matchRoute(routes, '/t/a/b?x=1#frag')).toMatchObject({ rest: '/a/b', query: 'x=1' });
    expect(must(matchRoute(routes, '/t/v2/a'), 'the match for /t/v2/a').route.prefix).toBe('/t/v2');
    expect(must(matchRoute(routes, '/t/v20'), 'the match for /t/v20').route.prefix).toBe('/t');
    expect(matchRoute(routes, '/tx')).toBeNull();
    expect(matchRoute(routes, '/T/a')).toBeNull();
    expect(matchRoute(routes, '/other')).toBeNull();
  });

  it('keeps the query byte for byte, without oauth_* pairs', () => {
    const m = must(
      matchRoute(routes, '/t/v2/a%20b?q=a+b%2Fc&oauth_token=T&x=&oauth%5Fnonce=n&&z=%E2%82%AC'),
      'the match',
    );
    expect(upstreamTarget(m)).toBe('/api/a%20b?q=a+b%2Fc&x=&&z=%E2%82%AC');
    expect(upstreamTarget(must(matchRoute(routes, '/t/a?oauth_signature=s'), 'the match'))).toBe('/a');
    expect(withoutOAuthPairs('summary=x+y&oauth_consumer_key=k&oauthx=1')).toBe('summary=x+y&oauthx=1');
  });

  it.each(refused.map((p) => [JSON.stringify(p), p]))('refuses %s', (_label, p) => {
    expect(nonCanonicalPath(p)).toEqual(expect.any(String));
  });

  it.each(accepted.map((p) => [JSON.stringify(p), p]))('accepts %s', (_label, p) => {
    expect(nonCanonicalPath(p)).toBeNull();
  });
});

describe('headers', () => {
  const identity = { assertion: 'jwt', username: 'zoë', consumerKey: 'wiki' };
  const fwd = { clientIp: '10.0.0.1', proto: 'https', host: 'applink.example', prefix: '/t' };
  const policy = headerPolicy(['x-extra'], ['applink.sid', 'CF_Authorization']);

  it("towards the upstream: only the allowlist, hop-by-hop and Connection-named out, applink's in", () => {
    const out = upstreamRequestHeaders(
      {
        host: 'applink.example',
        connection: 'close, x-secret, Accept-Language',
        'x-secret': '1',
        'accept-language': 'de',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        'proxy-connection': 'keep-alive',
        expect: '100-continue',
        authorization: 'OAuth oauth_token="x"',
        'x-applink-user': 'mallory',
        x_applink_user: 'mallory',
        'x-forwarded-for': '6.6.6.6',
        x_forwarded_host: 'evil',
        forwarded: 'for=6.6.6.6',
        'remote-user': 'admin',
        'x-remote-user': 'admin',
        'x-auth-request-user': 'admin',
        'x-auth-request-email': 'admin@example.com',
        'x-original-url': '/admin',
        'x-rewrite-url': '/admin',
        'true-client-ip': '10.0.0.9',
        'cf-access-jwt-assertion': 'eyJ',
        cookie: 'applink.sid=s%3Aabc; CF_Authorization=eyJ; JSESSIONID=42',
        'content-length': '10',
        'content-type': 'text/plain',
        via: '1.1 edge',
        accept: 'application/json',
        'x-extra': 'yes',
        'x-other': 'no',
      },
      policy,
      'up:1',
      identity,
      fwd,
      null,
    );
    expect(out).toEqual({
      'content-length': '10',
      'content-type': 'text/plain',
      accept: 'application/json',
      cookie: 'JSESSIONID=42',
      'x-extra': 'yes',
      host: 'up:1',
      'applink-jwt-assertion': 'jwt',
      'x-applink-user': 'zo%C3%AB',
      'x-applink-consumer': 'wiki',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'applink.example',
      'x-forwarded-prefix': '/t',
      via: '1.1 edge, 1.1 applink',
    });
  });

  it('a replayed body gets its own length', () => {
    const out = upstreamRequestHeaders({ 'content-length': '99' }, policy, 'up', identity, fwd, 12);
    expect(out['content-length']).toBe('12');
  });

  it("the Cookie header loses applink's cookies in every spelling, keeps the rest", () => {
    const owned = policy.owned;
    expect(filterCookieHeader('applink.sid=1', owned)).toBeNull();
    expect(filterCookieHeader(' APPLINK.SID =1;a=2', owned)).toBe('a=2');
    expect(filterCookieHeader('a=1; applink.sid=x; applink.sid=y; b=2', owned)).toBe('a=1; b=2');
    expect(filterCookieHeader('cf_authorization=x;;b=2', owned)).toBe('b=2');
    expect(filterCookieHeader('applink.sid', owned)).toBeNull(); // a nameless cookie's value
    expect(filterCookieHeader('a=applink.sid=x', owned)).toBe('a=applink.sid=x');
  });

  it('back to the client: hop-by-hop, origin-wide and owned cookies out; sandboxed', () => {
    expect(
      clientResponseHeaders(
        {
          connection: 'keep-alive, x-hop',
          'x-hop': '1',
          'keep-alive': 'timeout=5',
          'transfer-encoding': 'chunked',
          'set-cookie': [
            'a=1',
            'applink.sid=evil; Path=/',
            ' Applink.Sid =evil',
            'CF_Authorization=x; Domain=example.com',
            '=applink.sid=evil',
            'applink.sid',
            'b=2; Path=/; HttpOnly',
          ],
          'strict-transport-security': 'max-age=0',
          'clear-site-data': '"cookies"',
          'alt-svc': 'h2=":443"',
          nel: '{}',
          'report-to': '{}',
          'service-worker-allowed': '/',
          'content-security-policy': "default-src 'self'",
          'content-type': 'text/html',
        },
        policy.owned,
        '/t',
      ),
    ).toEqual({
      'set-cookie': ['a=1; Path=/t', 'b=2; HttpOnly; Path=/t'],
      'content-type': 'text/html',
      'content-security-policy': ["default-src 'self'", GATEWAY_CSP],
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
      via: '1.1 applink',
    });
  });

  it('upstream cookies are confined to the route: Path inside it kept, else replaced; Domain removed', () => {
    const cases: Array<[string, string]> = [
      ['a=1', 'a=1; Path=/app/t'],
      ['a=1; Path=/', 'a=1; Path=/app/t'],
      ['a=1; path=/app', 'a=1; Path=/app/t'],
      ['a=1; Path=/app/tx', 'a=1; Path=/app/t'],
      ['a=1; Path=/app/t', 'a=1; Path=/app/t'],
      ['a=1; Path=/app/t/x; Secure', 'a=1; Path=/app/t/x; Secure'],
      ['a=1; Path=/app/t/x; Path=/', 'a=1; Path=/app/t/x'],
      ['a=1; Domain=example.com; HttpOnly', 'a=1; HttpOnly; Path=/app/t'],
      [' a=1 ; DOMAIN = .example.com ; PATH = / ; Max-Age=60', ' a=1 ; Max-Age=60; Path=/app/t'],
      ['a=b=c; Path', 'a=b=c; Path=/app/t'],
      ['__Host-a=1; Path=/; Secure', '__Host-a=1; Secure; Path=/app/t'],
      ['a=1;', 'a=1; Path=/app/t'],
    ];
    for (const [given, sent] of cases) expect(scopeSetCookie(given, '/app/t'), given).toBe(sent);
  });
});
