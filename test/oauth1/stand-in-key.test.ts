// The stand-in consumer for unknown keys carries an RSA key; generating it takes tens of
// milliseconds, so it is made on the first request that needs it, never at import: a CLI
// command loads the whole core and must not pay for it. Checked on the built CLI, with
// node:crypto's key generation counted from a preload.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const COUNT = `
const crypto = require('node:crypto');
const original = crypto.generateKeyPairSync;
let rsa = 0;
crypto.generateKeyPairSync = (type, ...rest) => { if (type === 'rsa') rsa++; return original(type, ...rest); };
process.on('exit', () => process.stderr.write('rsa-keys:' + rsa + '\\n'));
`;

function rsaKeysMadeBy(script: string): number {
  const r = spawnSync(process.execPath, ['-e', COUNT + script], { encoding: 'utf8', cwd: process.cwd() });
  const m = /rsa-keys:(\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no count: ${r.stderr}`);
  return Number(m[1]);
}

describe('the stand-in RSA key', () => {
  it('is not made when the CLI (and with it the whole core) is loaded', () => {
    expect(rsaKeysMadeBy("require('./dist/src/cli/index.js'); require('./dist/src/server.js');")).toBe(0);
  });

  it('is made once, on the first request from an unknown consumer', () => {
    const script = `
      const { verifySignedRequest } = require('./dist/src/oauth1/flows/verify-request.js');
      const store = { findCredentials: async () => ({ consumer: null, token: null }), claimNonce: async () => true };
      const deps = { store, clock: { now: () => Date.now() }, options: { timestampWindow: 300, lastUsedThrottle: 60000 } };
      const parts = (n) => ({ method: 'GET', origin: 'http://x', target: '/r',
        authorization: 'OAuth oauth_consumer_key="nobody", oauth_signature_method="RSA-SHA1", oauth_signature="x", ' +
          'oauth_timestamp="' + Math.floor(Date.now() / 1000) + '", oauth_nonce="n' + n + '"' });
      (async () => {
        for (let i = 0; i < 3; i++) await verifySignedRequest(parts(i), null, '', deps).catch((e) => { if (e.code !== 'consumer_key_unknown') throw e; });
      })();
    `;
    expect(rsaKeysMadeBy(script)).toBe(1);
  });
});
