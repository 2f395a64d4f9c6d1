// Bodies the server does not want are never read off to their end: the gateway's bodies
// over APPLINK_GATEWAY_BUFFER_LIMIT are cut at the limit like every other route's (they
// went through body-parser, which reads the whole request before answering 413), and a
// form route that ignores a body of another type closes the connection after its answer
// instead of letting node read the body off on a keep-alive connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server';
import { pinnedBase } from '../helpers/gateway';
import { streamUntilAnswered } from '../helpers/stream-body';

const LIMIT = 65_536;
const FORM = 'Content-Type: application/x-www-form-urlencoded';

describe('bodies that are not wanted are not read', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      ...(await pinnedBase()),
      // never reached: the body is refused before verification
      APPLINK_GATEWAY_ROUTES: '/tracker=http://127.0.0.1:9',
      APPLINK_GATEWAY_BUFFER_LIMIT: String(LIMIT),
    });
  });
  afterAll(() => s.stop());

  it.each(['chunked', 'length'] as const)(
    'the gateway: a %s form body over the buffer limit is answered 413 while the client is still sending',
    async (framing) => {
      const r = await streamUntilAnswered(s.url, '/tracker/upload', [FORM], { framing });
      expect(r.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(r.head.toLowerCase()).toContain('connection: close');
      expect(r.sentBeforeAnswer).toBeLessThan(LIMIT + 256 * 1024);
      expect(r.sentBeforeAnswer).toBeLessThan(r.planned);
    },
  );

  it('the gateway: an encoded body it must read is refused (415), not decoded', async () => {
    const r = await streamUntilAnswered(s.url, '/tracker/upload', [FORM, 'Content-Encoding: gzip'], {
      size: 64 * 1024,
    });
    expect(r.head).toMatch(/^HTTP\/1\.1 415 /);
    expect(r.head.toLowerCase()).toContain('connection: close');
  });

  it.each([
    ['another type', 'Content-Type: application/octet-stream'],
    ['a form in another charset', 'Content-Type: application/x-www-form-urlencoded; charset=iso-8859-1'],
  ])('a form route and %s: answered, and the connection closes rather than reading the body off', async (_n, type) => {
    const r = await streamUntilAnswered(s.url, '/login', [type]);
    expect(r.head).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(r.head.toLowerCase()).toContain('connection: close');
    expect(r.sentBeforeAnswer).toBeLessThan(r.planned);
  });
});
