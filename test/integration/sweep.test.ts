// The server sweeps on its own, every APPLINK_SWEEP_INTERVAL seconds: used nonces older
// than the timestamp window go, nonces still inside it stay.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ APPLINK_SWEEP_INTERVAL: '1', APPLINK_TIMESTAMP_WINDOW: '30' });
});
afterAll(() => s.stop());

it('deletes nonces past the window at the configured interval and keeps live ones', async () => {
  const now = Math.floor(Date.now() / 1000);
  await s.services.db.knex('nonces').insert([
    { consumer_id: 1, token_ref: '', timestamp: now - 120, nonce: 'old' },
    { consumer_id: 1, token_ref: '', timestamp: now, nonce: 'live' },
  ]);
  const deadline = Date.now() + 5000;
  let left: string[] = [];
  while (Date.now() < deadline) {
    left = (await s.services.db.knex('nonces').select('nonce')).map((r: { nonce: string }) => r.nonce);
    if (!left.includes('old')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(left).toEqual(['live']);
});
