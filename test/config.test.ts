import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig, VARIABLE_HELP } from '../src/config';
import { ServiceError } from '../src/errors';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const fail = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toMatchObject({ code: 'config_invalid' });
    return (e as ServiceError).message;
  }
  throw new Error('expected a config_invalid ServiceError');
};

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      database: { client: 'sqlite', filename: './data/applink.sqlite' },
      baseUrl: null,
      basePath: '',
      trustProxy: false,
      secretKey: null,
      secretKeyFile: './data/secret.key',
      timestampWindow: 300,
      requestTokenTtl: 600,
      accessTokenTtl: 157680000,
      shutdownTimeout: 25,
      sweepInterval: 60,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('parses every variable', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const c = loadConfig({
      APPLINK_PORT: '8080',
      APPLINK_HOST: '0.0.0.0',
      APPLINK_DATABASE_URL: 'postgres://u@db:5432/applink',
      APPLINK_BASE_URL: 'https://links.example.com/applink/',
      APPLINK_TRUST_PROXY: 'on',
      APPLINK_SECRET_KEY: key,
      APPLINK_TIMESTAMP_WINDOW: '60',
      APPLINK_REQUEST_TOKEN_TTL: '120',
      APPLINK_ACCESS_TOKEN_TTL: '0',
      APPLINK_SHUTDOWN_TIMEOUT: '5',
      APPLINK_SWEEP_INTERVAL: '5',
    });
    expect(c.shutdownTimeout).toBe(5);
    expect(c.port).toBe(8080);
    expect(c.database).toEqual({ client: 'pg', connectionString: 'postgres://u@db:5432/applink' });
    expect(c.baseUrl?.origin).toBe('https://links.example.com');
    expect(c.basePath).toBe('/applink');
    expect(c.trustProxy).toBe(true);
    expect(c.secretKey?.equals(Buffer.alloc(32, 7))).toBe(true);
    expect([c.timestampWindow, c.requestTokenTtl, c.accessTokenTtl]).toEqual([60, 120, 0]);
    expect(c.sweepInterval).toBe(5);
  });

  it.each([
    ['APPLINK_PORT', 'eighty'],
    ['APPLINK_PORT', '70000'],
    ['APPLINK_DATABASE_URL', 'mysql://x'],
    ['APPLINK_DATABASE_URL', 'sqlite:'],
    ['APPLINK_BASE_URL', 'not a url'],
    ['APPLINK_BASE_URL', 'ftp://x.example'],
    ['APPLINK_BASE_URL', 'https://x.example/?q=1'],
    ['APPLINK_TRUST_PROXY', 'maybe'],
    ['APPLINK_SECRET_KEY', 'c2hvcnQ='],
    ['APPLINK_TIMESTAMP_WINDOW', '0'],
    ['APPLINK_REQUEST_TOKEN_TTL', '-5'],
    ['APPLINK_ACCESS_TOKEN_TTL', '1.5'],
    ['APPLINK_LOG_LEVEL', 'loud'],
    ['APPLINK_SHUTDOWN_TIMEOUT', '0'],
    ['APPLINK_SHUTDOWN_TIMEOUT', 'soon'],
    ['APPLINK_SWEEP_INTERVAL', '0'],
    ['APPLINK_SWEEP_INTERVAL', 'often'],
  ])('%s=%s is refused with a message naming the variable', (name, value) => {
    const msg = fail({ [name]: value });
    expect(msg.startsWith(`${name}: `)).toBe(true);
    expect(msg).not.toContain('\n');
  });

  it('describes every variable for `applink --help`, and the README table names every one', () => {
    expect(Object.keys(VARIABLE_HELP).sort()).toEqual([...CONFIG_VARIABLES].sort());
    for (const line of Object.values(VARIABLE_HELP)) expect(line.length).toBeLessThan(100);
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    for (const name of CONFIG_VARIABLES) expect(readme, name).toContain(name);
  });
});
