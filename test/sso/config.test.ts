// SSO configuration: all-or-nothing, exactly one key source, clear errors naming the variable.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { configVariable, ServiceError } from '../../src/errors';

const CORE = {
  APPLINK_SSO_JWKS_URL: 'https://team.cloudflareaccess.com/cdn-cgi/access/certs',
  APPLINK_SSO_ISSUER: 'https://team.cloudflareaccess.com',
  APPLINK_SSO_AUDIENCE: 'aud-tag',
};

function errorOf(env: Record<string, string>): ServiceError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ServiceError && e.code === 'config_invalid') return e;
    throw e;
  }
  throw new Error('expected a config_invalid ServiceError');
}

describe('SSO configuration', () => {
  it('is off when no APPLINK_SSO_* variable is set, and the login form is on', () => {
    const c = loadConfig({});
    expect(c.sso).toBeNull();
    expect(c.loginForm).toBe(true);
  });

  it('has the documented defaults once the required variables are set', () => {
    const c = loadConfig(CORE);
    expect(c.sso).toEqual({
      jwks: { kind: 'url', url: new URL(CORE.APPLINK_SSO_JWKS_URL) },
      issuer: CORE.APPLINK_SSO_ISSUER,
      audience: ['aud-tag'],
      header: 'cf-access-jwt-assertion',
      cookie: 'CF_Authorization',
      emailClaim: 'email',
      autoProvision: false,
      jwksCooldown: 30,
    });
    expect(Object.isFrozen(c.sso)).toBe(true);
  });

  it('reads every option', () => {
    const c = loadConfig({
      APPLINK_SSO_JWKS_FILE: '/etc/applink/jwks.json',
      APPLINK_SSO_ISSUER: 'https://idp.example',
      APPLINK_SSO_AUDIENCE: 'one, two',
      APPLINK_SSO_HEADER: 'X-Auth-Request-Jwt',
      APPLINK_SSO_COOKIE: 'idp_session',
      APPLINK_SSO_EMAIL_CLAIM: 'upn',
      APPLINK_SSO_AUTO_PROVISION: 'on',
      APPLINK_SSO_JWKS_COOLDOWN: '0',
      APPLINK_LOGIN_FORM: 'off',
    });
    expect(c.sso).toMatchObject({
      jwks: { kind: 'file', path: '/etc/applink/jwks.json' },
      audience: ['one', 'two'],
      header: 'x-auth-request-jwt',
      cookie: 'idp_session',
      emailClaim: 'upn',
      autoProvision: true,
      jwksCooldown: 0,
    });
    expect(c.loginForm).toBe(false);
  });

  it.each<[string, Record<string, string>, string, RegExp]>([
    ['issuer alone', { APPLINK_SSO_ISSUER: 'https://x' }, 'APPLINK_SSO_JWKS_URL', /APPLINK_SSO_ISSUER/],
    ['a tuning variable alone', { APPLINK_SSO_AUTO_PROVISION: 'on' }, 'APPLINK_SSO_JWKS_URL', /required/],
    ['no issuer', { ...CORE, APPLINK_SSO_ISSUER: '' }, 'APPLINK_SSO_ISSUER', /required/],
    ['no audience', { ...CORE, APPLINK_SSO_AUDIENCE: '' }, 'APPLINK_SSO_AUDIENCE', /required/],
    ['an empty audience list', { ...CORE, APPLINK_SSO_AUDIENCE: ' , ' }, 'APPLINK_SSO_AUDIENCE', /at least one/],
    ['both key sources', { ...CORE, APPLINK_SSO_JWKS_FILE: '/k.json' }, 'APPLINK_SSO_JWKS_FILE', /not both/],
    [
      'plain http to another host',
      { ...CORE, APPLINK_SSO_JWKS_URL: 'http://idp.example/certs' },
      'APPLINK_SSO_JWKS_URL',
      /https/,
    ],
    ['not a URL', { ...CORE, APPLINK_SSO_JWKS_URL: 'certs.json' }, 'APPLINK_SSO_JWKS_URL', /absolute/],
    ['a header name with a space', { ...CORE, APPLINK_SSO_HEADER: 'Cf Access' }, 'APPLINK_SSO_HEADER', /name/],
    ['a cookie name with =', { ...CORE, APPLINK_SSO_COOKIE: 'a=b' }, 'APPLINK_SSO_COOKIE', /name/],
    ['a bad switch', { ...CORE, APPLINK_SSO_AUTO_PROVISION: 'maybe' }, 'APPLINK_SSO_AUTO_PROVISION', /on or off/],
    ['a bad cooldown', { ...CORE, APPLINK_SSO_JWKS_COOLDOWN: '-1' }, 'APPLINK_SSO_JWKS_COOLDOWN', /whole number/],
    ['SSO-only without SSO', { APPLINK_LOGIN_FORM: 'off' }, 'APPLINK_LOGIN_FORM', /single sign-on/],
  ])('rejects %s', (_name, env, variable, message) => {
    const e = errorOf(env);
    expect(configVariable(e)).toBe(variable);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`${variable}: `)).toBe(true);
  });

  it('accepts plain http on loopback only (a local key set server)', () => {
    for (const host of ['127.0.0.1:8080', 'localhost', '[::1]:9000'])
      expect(loadConfig({ ...CORE, APPLINK_SSO_JWKS_URL: `http://${host}/certs` }).sso?.jwks.kind).toBe('url');
  });
});
