// The one answer to a ServiceError over HTTP (src/http/service-errors.ts): the code's status,
// the message for the request's own faults, and no operator detail for the 5xx codes.
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { sendServiceError } from '../../src/http/service-errors';
import { configInvalid, notFound, refused, unavailable, type ServiceError } from '../../src/errors';

/** Just enough of Express's response to see what was answered. */
function fakeResponse() {
  const sent: { status?: number; headers: Record<string, string>; json?: unknown } = { headers: {} };
  const res = {
    locals: {},
    status(code: number) {
      sent.status = code;
      return res;
    },
    set(name: string, value: string) {
      sent.headers[name] = value;
      return res;
    },
    json(body: unknown) {
      sent.json = body;
      return res;
    },
  };
  return { res: res as unknown as Response, sent };
}

async function answer(err: ServiceError, page: boolean) {
  const { res, sent } = fakeResponse();
  let rendered: { title: string; message: string } | undefined;
  await sendServiceError(err, {} as unknown as Request, res, page, (locals) => {
    rendered = locals;
    return Promise.resolve();
  });
  return { ...sent, rendered };
}

describe('a ServiceError over HTTP', () => {
  it('JSON: the code, its status and the message', async () => {
    expect(await answer(refused('that key is in use'), false)).toMatchObject({
      status: 400,
      headers: { 'Cache-Control': 'no-store' },
      json: { error: 'refused', message: 'that key is in use' },
    });
    expect((await answer(notFound('no consumer wiki'), true)).rendered).toEqual({
      title: 'Not found',
      message: 'There is no page at this address.',
    });
  });

  it('a wrong setting or an unreachable dependency: 5xx, and the words of the page instead of the detail', async () => {
    const secretPath = configInvalid('APPLINK_SSO_JWKS_FILE', 'cannot read /etc/applink/private/jwks.json');
    const json = await answer(secretPath, false);
    expect(json).toMatchObject({ status: 500, json: { error: 'config_invalid' } });
    expect(JSON.stringify(json.json)).not.toContain('/etc/applink');
    const page = await answer(secretPath, true);
    expect(page.status).toBe(500);
    expect(page.rendered?.message).not.toContain('/etc/applink');
    const down = await answer(
      unavailable('the signing key set could not be obtained', new Error('ECONNREFUSED')),
      true,
    );
    expect(down).toMatchObject({ status: 503, rendered: { title: 'Temporarily unavailable' } });
  });
});
