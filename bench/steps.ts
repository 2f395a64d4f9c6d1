// `node dist/bench/steps.js`: what each step of a signed API call costs, in process and
// without HTTP, on SQLite (or PostgreSQL with BENCH_DB=pg): parameter collection, base
// string, token hash, credential lookup, HMAC, nonce claim, and the whole verification.
import { must } from './lib/must';
import { OPERATOR } from '../src/services/actor';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db';
import { createLogger } from '../src/logger';
import { createWiring } from '../src/wiring';
import { SecretBox } from '../src/secret-box';
import { collectParams, type RequestParts } from '../src/oauth1/params';
import { baseStringUri, signatureBaseString } from '../src/oauth1/base-string';
import { verifySignature } from '../src/oauth1/signature';
import { hashToken, newSecretValue, newTokenValue } from '../src/oauth1/tokens';
import { verifySignedRequest } from '../src/oauth1/flows/verify-request';
import { Signer } from './lib/oauth';
import { pgDb } from './lib/applink';
import { fmt, markdownTable } from './lib/stats';

const N = Number(process.env.BENCH_STEPS ?? 20_000);
const ORIGIN = 'http://127.0.0.1:3000';
const PATH = '/rest/api/1/myself';

async function time(label: string, n: number, fn: (i: number) => unknown): Promise<[string, string]> {
  for (let i = 0; i < Math.min(n, 2000); i++) await fn(i); // warm up the JIT
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  return [label, fmt.ms(us)];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'applink-steps-'));
  const pg = process.env.BENCH_DB === 'pg' ? await pgDb() : null;
  const config = loadConfig({
    APPLINK_DATABASE_URL: pg ? pg.url : `sqlite:${join(dir, 'steps.sqlite')}`,
    APPLINK_SECRET_KEY: randomBytes(32).toString('base64'),
    APPLINK_LOG_LEVEL: 'silent',
  });
  const db = openDatabase(config.database);
  try {
    await db.migrate();
    const box = new SecretBox(must(config.secretKey, 'APPLINK_SECRET_KEY'));
    const s = createWiring(config, db, box, createLogger(config));
    const user = await s.users.create(OPERATOR, { username: 'steps', email: 'steps@example.com' });
    const c = await s.consumers.create(OPERATOR, { key: 'steps', name: 'Steps' });
    const now = Date.now();
    const rtId = await s.store.createRequestToken(
      {
        tokenHash: hashToken('rt'),
        consumerId: c.consumer.id,
        secret: 'x',
        callback: 'oob',
        createdAt: now,
        expiresAt: now + 600_000,
      },
      { event: 'request_token.issued', consumerId: c.consumer.id },
    );
    await s.store.approveRequestToken(rtId, user.id, 'v', now, {
      event: 'authorization.approved',
      actorUserId: user.id,
    });
    const token = newTokenValue();
    const tokenSecret = newSecretValue();
    await s.store.exchangeRequestToken(
      {
        requestTokenId: rtId,
        consumerId: c.consumer.id,
        userId: user.id,
        accessTokenHash: hashToken(token),
        accessSecret: tokenSecret,
        createdAt: now,
        expiresAt: null,
        sessionHandleHash: hashToken(newTokenValue()),
        authorizationExpiresAt: null,
      },
      { event: 'access_token.issued', actorUserId: user.id, consumerId: c.consumer.id },
    );

    const signer = new Signer({ key: 'steps', secret: c.secret, method: 'HMAC-SHA1' });
    const total = N * 2 + 4000;
    const parts: RequestParts[] = [];
    for (let i = 0; i < total; i++) {
      const r = signer.request('GET', ORIGIN, PATH, { token: { key: token, secret: tokenSecret } });
      parts.push({ method: 'GET', origin: ORIGIN, target: PATH, authorization: r.headers.authorization });
    }
    const collected = parts.map(collectParams);
    const bases = collected.map((p) => signatureBaseString('GET', baseStringUri(ORIGIN, PATH), p.signed));
    const tokenHash = hashToken(token);
    const found = await s.store.findCredentials('steps', tokenHash, 'access');
    const consumerSecret = must(found.consumer, 'the consumer').secret;
    const grantSecret = must(found.token, 'the token').secret;
    const signatures = collected.map((p) => p.signature);
    const nowS = Math.floor(Date.now() / 1000);
    let k = 0;

    const rows: Array<[string, string]> = [];
    rows.push(
      await time('collectParams (header parse, decode)', N, (i) => collectParams(must(parts[i], 'request parts'))),
    );
    rows.push(
      await time('base string (URI + normalised parameters)', N, (i) =>
        signatureBaseString('GET', baseStringUri(ORIGIN, PATH), must(collected[i], 'collected parameters').signed),
      ),
    );
    rows.push(await time('hashToken (SHA-256 of the token)', N, () => hashToken(token)));
    rows.push(
      await time('findCredentials (one query + row mapping)', N, () =>
        s.store.findCredentials('steps', tokenHash, 'access'),
      ),
    );
    rows.push(
      await time('verifySignature HMAC-SHA1 + constant-time compare', N, (i) =>
        verifySignature('HMAC-SHA1', must(bases[i], 'a base string'), signatures[i] ?? '', {
          consumerSecret,
          tokenSecret: grantSecret,
          publicKey: null,
        }),
      ),
    );
    rows.push(
      await time('claimNonce (one insert)', N, () =>
        s.store.claimNonce({ consumerId: c.consumer.id, tokenRef: 'a1', timestamp: nowS, nonce: `n${k++}` }, null),
      ),
    );
    let j = N + 2000;
    rows.push(
      await time('verifySignedRequest (all of the above)', N - 2000, () =>
        verifySignedRequest(must(parts[j++], 'request parts'), 'access', '127.0.0.1', s),
      ),
    );
    process.stdout.write(`${markdownTable(['step', 'µs per call'], rows)}\n`);
  } finally {
    await db.close();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
