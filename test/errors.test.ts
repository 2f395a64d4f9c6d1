// The one error model beside OAuthProblem: every code has a status, a wrong setting names
// its variable, and a 5xx code shows no operator detail on a page or in JSON.
import { describe, expect, it } from 'vitest';
import { configInvalid, configVariable, refused, SERVICE_ERROR_STATUS, ServiceError, unavailable } from '../src/errors';

describe('ServiceError', () => {
  it('has a status for every code', () => {
    expect(SERVICE_ERROR_STATUS).toEqual({
      invalid_input: 400,
      not_found: 404,
      conflict: 409,
      forbidden: 403,
      refused: 400,
      config_invalid: 500,
      unavailable: 503,
      throttled: 429,
    });
  });

  it('a wrong setting is one line naming the variable', () => {
    const e = configInvalid('APPLINK_PORT', 'must be at most 65535');
    expect(e).toBeInstanceOf(ServiceError);
    expect(e.message).toBe('APPLINK_PORT: must be at most 65535');
    expect(e.httpStatus).toBe(500);
    expect(configVariable(e)).toBe('APPLINK_PORT');
    expect(configVariable(refused('no'))).toBeUndefined();
    expect(configVariable(new Error('APPLINK_PORT: x'))).toBeUndefined();
  });

  it('unavailable keeps its cause for the log', () => {
    const cause = new Error('ECONNREFUSED');
    const e = unavailable('the signing key set could not be obtained', cause);
    expect(e.code).toBe('unavailable');
    expect(e.cause).toBe(cause);
    expect(e.toJSON()).toEqual({ error: 'unavailable', message: 'the signing key set could not be obtained' });
  });
});
