// The public root URL is built in one place (src/http/request-parts.ts): from APPLINK_BASE_URL
// (whose path is the base path) when set, else from the request, else from the listen address.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { configuredRoot, publicRoot, realmOf, serverRoot } from '../../src/http/request-parts';
import { setupUrlOf } from '../../src/server';

const request = (host: string | undefined): IncomingMessage =>
  ({ headers: host === undefined ? {} : { host }, socket: {} }) as unknown as IncomingMessage;

describe('public root', () => {
  const configured = loadConfig({ APPLINK_BASE_URL: 'https://links.example/applink/' });
  const derived = loadConfig({ APPLINK_HOST: '127.0.0.1', APPLINK_PORT: '8090' });

  it('is APPLINK_BASE_URL + the base path whatever the request says', () => {
    expect(configuredRoot(configured)).toBe('https://links.example/applink');
    expect(publicRoot(configured, request('evil.example'))).toBe('https://links.example/applink');
    expect(serverRoot(configured, 'http://127.0.0.1:1')).toBe('https://links.example/applink');
    expect(realmOf(request('bad host!'), configured)).toBe('https://links.example/applink');
    expect(setupUrlOf(configured, 'http://127.0.0.1:1')).toBe('https://links.example/applink/setup');
  });

  it('without APPLINK_BASE_URL (so no base path): the request origin, else the listen address', () => {
    expect(configuredRoot(derived)).toBeNull();
    expect(publicRoot(derived, request('wiki.example:8090'))).toBe('http://wiki.example:8090');
    expect(realmOf(request('bad host!'), derived)).toBe('http://127.0.0.1:8090');
    expect(serverRoot(derived, 'http://[::1]:9000')).toBe('http://[::1]:9000');
    expect(setupUrlOf(derived, 'http://[::1]:9000')).toBe('http://[::1]:9000/setup');
  });
});
