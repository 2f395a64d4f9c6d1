// Route configuration, matching and the rewriting of the request target, as pure functions,
// and the configuration errors that name APPLINK_GATEWAY_*.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import {
  hasDotSegment,
  matchRoute,
  parseGatewayRoutes,
  upstreamTarget,
  withoutOAuthPairs,
} from '../../src/gateway/routes';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../src/gateway/headers';

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
    expect(() => loadConfig({ APPLINK_GATEWAY_ROUTES: value })).toThrow(ConfigError);
    try {
      loadConfig({ APPLINK_GATEWAY_ROUTES: value });
    } catch (e) {
      expect((e as ConfigError).variable).toBe('APPLINK_GATEWAY_ROUTES');
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

describe('matching and the upstream target', () => {
  const routes = parseGatewayRoutes('/t=http://up:1,/t/v2=http://up:2/api');

  it('matches at segment boundaries only, longest first', () => {
    expect(matchRoute(routes, '/t')).toMatchObject({ rest: '/', query: '' });
    expect(matchRoute(routes, '/t?x=1')).toMatchObject({ rest: '/', query: 'x=1' });
    expect(matchRoute(routes, '/t/a/b?x=1#frag')).toMatchObject({ rest: '/a/b', query: 'x=1' });
    expect(matchRoute(routes, '/t/v2/a')!.route.prefix).toBe('/t/v2');
    expect(matchRoute(routes, '/t/v20')!.route.prefix).toBe('/t');
    expect(matchRoute(routes, '/tx')).toBeNull();
    expect(matchRoute(routes, '/T/a')).toBeNull();
    expect(matchRoute(routes, '/other')).toBeNull();
  });

  it('keeps the query byte for byte, without oauth_* pairs', () => {
    const m = matchRoute(routes, '/t/v2/a%20b?q=a+b%2Fc&oauth_token=T&x=&oauth%5Fnonce=n&&z=%E2%82%AC')!;
    expect(upstreamTarget(m)).toBe('/api/a%20b?q=a+b%2Fc&x=&&z=%E2%82%AC');
    expect(upstreamTarget(matchRoute(routes, '/t/a?oauth_signature=s')!)).toBe('/a');
    expect(withoutOAuthPairs('summary=x+y&oauth_consumer_key=k&oauthx=1')).toBe('summary=x+y&oauthx=1');
  });

  it('finds dot segments, encoded or not', () => {
    for (const p of ['/..', '/../a', '/a/./b', '/a/%2e%2E/b', '/a/.%2e', '/a\\..\\b', '/a%2f..%2fb', '/a%5C..']) {
      expect(hasDotSegment(p), p).toBe(true);
    }
    for (const p of ['/', '/a/b', '/a/..b', '/a/b..', '/.well-known/x', '/a/...'])
      expect(hasDotSegment(p), p).toBe(false);
  });
});

describe('headers', () => {
  const identity = { assertion: 'jwt', username: 'zoë', consumerKey: 'wiki' };
  const fwd = { clientIp: '10.0.0.1', proto: 'https', host: 'applink.example', prefix: '/t' };

  it("towards the upstream: hop-by-hop, spoofable and OAuth headers out, applink's in", () => {
    const out = upstreamRequestHeaders(
      {
        host: 'applink.example',
        connection: 'close, x-secret',
        'x-secret': '1',
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
        'content-length': '10',
        'content-type': 'text/plain',
        via: '1.1 edge',
        accept: 'application/json',
      },
      'up:1',
      identity,
      fwd,
      null,
    );
    expect(out).toEqual({
      'content-length': '10',
      'content-type': 'text/plain',
      accept: 'application/json',
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
    const out = upstreamRequestHeaders({ 'content-length': '99' }, 'up', identity, fwd, 12);
    expect(out['content-length']).toBe('12');
  });

  it('back to the client: hop-by-hop headers out, the rest (all cookies) kept', () => {
    expect(
      clientResponseHeaders({
        connection: 'keep-alive, x-hop',
        'x-hop': '1',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1', 'b=2'],
        'content-type': 'text/html',
      }),
    ).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/html', via: '1.1 applink' });
  });
});
