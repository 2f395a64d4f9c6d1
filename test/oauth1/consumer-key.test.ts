// parseConsumerPublicKey: RSA public keys (SPKI, PKCS#1) and certificates of 2048 to
// 16384 bits; everything else refused with a reason: short RSA keys, EC/Ed25519/DSA keys,
// RSA-PSS keys, private keys, garbage.
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_RSA_BITS, parseConsumerPublicKey } from '../../src/oauth1/consumer-key';

const rsa = (bits: number) =>
  generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

const refusal = (pem: string): string => {
  const r = parseConsumerPublicKey(pem);
  if (r.ok) throw new Error('accepted');
  return r.reason;
};

describe('parseConsumerPublicKey', () => {
  it.each([512, 1024, 2040, 2047])('refuses a %i-bit RSA key', (bits) => {
    expect(refusal(rsa(bits).publicKey)).toBe(`the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  });

  it.each([2048, 4096])('accepts a %i-bit RSA key (SPKI and PKCS#1)', (bits) => {
    const { publicKey } = rsa(bits);
    const r = parseConsumerPublicKey(publicKey);
    expect(r.ok && r.bits).toBe(bits);
    const pkcs1 = createPublicKey(publicKey).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toMatch(/^-----BEGIN RSA PUBLIC KEY-----/);
    expect(parseConsumerPublicKey(pkcs1).ok).toBe(true);
    // surrounding whitespace, CRLF line ends
    expect(parseConsumerPublicKey(`\n  ${publicKey.replace(/\n/g, '\r\n')}  \n`).ok).toBe(true);
  });

  it('accepts an X.509 certificate of a 2048-bit key and refuses one of a 1024-bit key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'applink-cert-'));
    try {
      const cert = (bits: number) => {
        const key = join(dir, `k${bits}.pem`);
        const out = join(dir, `c${bits}.pem`);
        writeFileSync(key, rsa(bits).privateKey);
        execFileSync('openssl', ['req', '-new', '-x509', '-key', key, '-out', out, '-days', '1', '-subj', '/CN=t'], {
          stdio: 'ignore',
        });
        return readFileSync(out, 'utf8');
      };
      const good = cert(2048);
      expect(good).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(parseConsumerPublicKey(good)).toMatchObject({ ok: true, bits: 2048 });
      expect(refusal(cert(1024))).toMatch(/1024 bits/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses keys of other kinds', () => {
    const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
    const ec = spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    expect(refusal(ec)).toBe('the public key must be an RSA key (this one is ec)');
    const ed = spki(generateKeyPairSync('ed25519').publicKey);
    expect(refusal(ed)).toBe('the public key must be an RSA key (this one is ed25519)');
    const pss = spki(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey);
    expect(refusal(pss)).toBe('the public key must be an RSA key (this one is rsa-pss)');
  });

  it('refuses a private key (it would be stored), even with a public key before it', () => {
    const { publicKey, privateKey } = rsa(2048);
    expect(refusal(privateKey)).toMatch(/PEM form|private key/);
    expect(refusal(`${publicKey}\n${privateKey}`)).toBe(
      'that is a private key: paste the public key or certificate only',
    );
    const pkcs1Private = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    }).privateKey;
    expect(parseConsumerPublicKey(pkcs1Private).ok).toBe(false);
  });

  it.each([
    '',
    '   ',
    'garbage',
    '-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n-----END PUBLIC KEY-----',
    '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
    '-----BEGIN PUBLIC KEY-----\n\u0000\u0001\n-----END PUBLIC KEY-----',
    `-----BEGIN PUBLIC KEY-----\n${'A'.repeat(70_000)}\n-----END PUBLIC KEY-----`,
    'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ user@host',
  ])('refuses garbage %#', (pem) => {
    expect(refusal(pem)).toBe('the public key must be an RSA public key or certificate in PEM form');
  });
});
