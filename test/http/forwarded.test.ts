// Under APPLINK_TRUST_PROXY, X-Forwarded-Proto, -Host and -For are all read from the
// trusted proxy's entry (the last one, or the N-th from the end with N hops), never from
// the entries a client wrote in front: a client cannot make PLAINTEXT pass over plain
// http, sign for another host, or choose the address in the audit log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trustedEntry } from '../../src/http/forwarded';
import { buildSignedRequest, signedFetch } from '../helpers/sign';
import { seedConsumer, startTestServer, type TestServer } from '../helpers/server';
import { rawExchange } from '../helpers/raw-http';
import { must } from '../helpers/must';

describe('trustedEntry', () => {
  it('takes the entry the trusted hop wrote', () => {
    expect(trustedEntry('https, http', 1)).toBe('http');
    expect(trustedEntry('https,http', 1)).toBe('http');
    expect(trustedEntry(['https', 'http'], 1)).toBe('http');
    expect(trustedEntry('https', 1)).toBe('https');
    expect(trustedEntry('a, b, c', 2)).toBe('b');
    expect(trustedEntry('a', 3)).toBe('a');
    expect(trustedEntry('https, ', 1)).toBeUndefined();
    expect(trustedEntry(undefined, 1)).toBeUndefined();
    expect(trustedEntry('https', 0)).toBeUndefined();
  });
});

const requestToken = (s: TestServer, secret: string, headers: Record<string, string>, signedUrl?: string) =>
  signedFetch(`${s.url}/oauth/request-token`, {
    method: 'POST',
    consumerKey: 'wiki',
    consumerSecret: secret,
    signatureMethod: 'PLAINTEXT',
    oauth: { oauth_callback: 'oob' },
    headers,
    ...(signedUrl && { signedUrl }),
  });

describe('one trusted hop (APPLINK_TRUST_PROXY=on)', () => {
  let s: TestServer;
  let secret: string;
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_TRUST_PROXY: 'on' });
    secret = must((await seedConsumer(s, 'wiki')).secret, "wiki's secret");
  });
  afterAll(() => s.stop());

  it('PLAINTEXT passes only when the proxy itself saw https', async () => {
    const ok = await requestToken(s, secret, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.1' });
    expect(ok.status, ok.body).toBe(200);
    for (const proto of [
      'https, http',
      'https,http',
      'HTTPS, http',
      'https, HTTP',
      'https, https, http',
      'https, ftp',
      'https, ',
      'https,',
      'http',
      'https, wss',
    ]) {
      const r = await requestToken(s, secret, { 'x-forwarded-proto': proto, 'x-forwarded-for': '192.0.2.1' });
      expect(r.status, proto).toBe(400);
      expect(r.params.oauth_problem, proto).toBe('signature_method_rejected');
    }
  });

  it('a repeated X-Forwarded-Proto header counts as one list: its last entry decides', async () => {
    const r = buildSignedRequest(`${s.url}/oauth/request-token`, {
      method: 'POST',
      consumerKey: 'wiki',
      consumerSecret: secret,
      signatureMethod: 'PLAINTEXT',
      oauth: { oauth_callback: 'oob' },
    });
    const auth = must((r.init.headers as Record<string, string>).authorization, 'the Authorization header');
    const send = (protoLines: string[]) =>
      rawExchange(
        s.url,
        `POST /oauth/request-token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth.replace(/oauth_nonce="[^"]+"/, `oauth_nonce="${Math.random().toString(36).slice(2)}"`)}\r\n` +
          protoLines.map((p) => `X-Forwarded-Proto: ${p}\r\n`).join('') +
          'Content-Length: 0\r\nConnection: close\r\n\r\n',
      );
    const bad = await send(['https', 'http']);
    expect(bad.params.oauth_problem).toBe('signature_method_rejected');
    const bad2 = await send(['https, https', 'http']);
    expect(bad2.params.oauth_problem).toBe('signature_method_rejected');
    // and the other way round: the client's http lines first, the proxy's https last
    for (const lines of [
      ['http', 'https'],
      ['http, http', 'https'],
      ['http', 'ftp', 'https'],
    ]) {
      const good = await send(lines);
      expect(good.status, `${JSON.stringify(lines)}: ${good.body}`).toBe(200);
      expect(good.params.oauth_token, JSON.stringify(lines)).toBeTruthy();
    }
  });

  it('X-Forwarded-Host: the signature is checked against the trusted hop, not the first entry', async () => {
    const hmac = (signedUrl: string, host: string) =>
      signedFetch(`${s.url}/oauth/request-token`, {
        method: 'POST',
        consumerKey: 'wiki',
        consumerSecret: secret,
        oauth: { oauth_callback: 'oob' },
        signedUrl,
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': host },
      });
    // signed for the host the client wrote first: refused
    const spoofed = await hmac('https://evil.example/oauth/request-token', 'evil.example, links.example.com');
    expect(spoofed.params.oauth_problem).toBe('signature_invalid');
    expect(spoofed.params.oauth_signature_base_string).toContain('links.example.com');
    // signed for the host the proxy saw: accepted
    const honest = await hmac('https://links.example.com/oauth/request-token', 'evil.example, links.example.com');
    expect(honest.status, honest.body).toBe(200);
    // a malformed trusted entry is refused, whatever came first
    const broken = await hmac('https://links.example.com/oauth/request-token', 'links.example.com, evil example');
    expect(broken.params.oauth_problem).toBe('parameter_rejected');
  });

  it('X-Forwarded-For: the audit log gets the address the proxy saw', async () => {
    const r = await requestToken(s, secret, {
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.66, 198.51.100.23',
    });
    expect(r.status).toBe(200);
    const [issued] = await s.services.audits.list({ event: 'request_token.issued', limit: 1 });
    expect(issued?.ip).toBe('198.51.100.23');
  });
});

describe('two trusted hops (APPLINK_TRUST_PROXY=2)', () => {
  let s: TestServer;
  let secret: string;
  beforeAll(async () => {
    s = await startTestServer({ APPLINK_TRUST_PROXY: '2' });
    secret = must((await seedConsumer(s, 'wiki')).secret, "wiki's secret");
  });
  afterAll(() => s.stop());

  it('reads the second entry from the end for scheme and address', async () => {
    // client wrote "http", outer proxy saw https, inner proxy appended http
    const ok = await requestToken(s, secret, {
      'x-forwarded-proto': 'http, https, http',
      'x-forwarded-for': '203.0.113.1, 198.51.100.2, 10.0.0.3',
    });
    expect(ok.status, ok.body).toBe(200);
    const [issued] = await s.services.audits.list({ event: 'request_token.issued', limit: 1 });
    expect(issued?.ip).toBe('198.51.100.2');
    const bad = await requestToken(s, secret, { 'x-forwarded-proto': 'https, http, http' });
    expect(bad.params.oauth_problem).toBe('signature_method_rejected');
  });
});

describe('APPLINK_TRUST_PROXY values', () => {
  it('is on/off or a hop count from 1 to 10', async () => {
    const { loadConfig } = await import('../../src/config');
    const hops = (v: string) => loadConfig({ APPLINK_TRUST_PROXY: v }).trustProxyHops;
    expect(hops('on')).toBe(1);
    expect(hops('off')).toBe(0);
    expect(hops('3')).toBe(3);
    expect(loadConfig({ APPLINK_TRUST_PROXY: '0' }).trustProxy).toBe(false);
    for (const bad of ['11', '-1', 'two', '1.5']) expect(() => hops(bad)).toThrow(/APPLINK_TRUST_PROXY/);
  });
});
