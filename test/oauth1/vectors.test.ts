// Every vector of ../shared/vectors/oauth1-vectors.json (copied to test/vectors/) against
// the protocol core, kind by kind.
import { describe, expect, it } from 'vitest';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { percentEncode, parseForm } from '../../src/oauth1/encoding';
import { collectParams } from '../../src/oauth1/params';
import { baseStringUri, normaliseParams, signatureBaseString, splitUrl } from '../../src/oauth1/base-string';
import { allVectors, vectorsOfKind } from '../helpers/vectors';
import { hmacSignature, plaintextSignature, verifySignature } from '../../src/oauth1/signature';

const all = allVectors;
const byKind = vectorsOfKind;

const sortPairs = (p: Array<[string, string]>) =>
  [...p].sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));

describe('oauth1 vectors', () => {
  it('covers all 74 vectors', () => {
    const kinds = new Set([
      'request',
      'base_string_uri',
      'percent_encode',
      'normalize_params',
      'base_string',
      'hmac_sha1',
      'hmac_sha256',
      'rsa_sha1',
      'plaintext',
    ]);
    expect(all).toHaveLength(74);
    for (const v of all) expect(kinds.has(v.kind)).toBe(true);
  });

  it.each(byKind('percent_encode'))('percent_encode %s', (_id, v) => {
    expect(percentEncode(v.input.value)).toBe(v.expected.encoded);
  });

  it.each(byKind('base_string_uri'))('base_string_uri %s', (_id, v) => {
    const { origin, target } = splitUrl(v.input.url);
    expect(baseStringUri(origin, target)).toBe(v.expected.base_string_uri);
  });

  it.each(byKind('normalize_params'))('normalize_params %s', (_id, v) => {
    const pairs = parseForm(v.input.form);
    expect(pairs).toEqual(v.expected.params);
    expect(normaliseParams(pairs)).toBe(v.expected.normalized_params);
  });

  it.each(byKind('base_string'))('base_string %s', (_id, v) => {
    const pairs = parseForm(v.input.params_form).filter(([k]) => k !== 'oauth_signature');
    expect(pairs).toEqual(v.expected.params);
    const { origin, target } = splitUrl(v.input.url);
    expect(signatureBaseString(v.input.method, baseStringUri(origin, target), pairs)).toBe(v.expected.base_string);
  });

  it.each(byKind('hmac_sha1'))('hmac_sha1 %s', (_id, v) => {
    expect(hmacSignature('HMAC-SHA1', v.input.base_string, v.input.consumer_secret, v.input.token_secret)).toBe(
      v.expected.signature,
    );
  });

  it.each(byKind('hmac_sha256'))('hmac_sha256 %s', (_id, v) => {
    expect(hmacSignature('HMAC-SHA256', v.input.base_string, v.input.consumer_secret, v.input.token_secret)).toBe(
      v.expected.signature,
    );
  });

  it.each(byKind('plaintext'))('plaintext %s', (_id, v) => {
    expect(plaintextSignature(v.input.consumer_secret, v.input.token_secret)).toBe(v.expected.signature);
  });

  it.each(byKind('rsa_sha1'))('rsa_sha1 %s', (_id, v) => {
    const { origin, target } = splitUrl(v.input.url);
    const base = signatureBaseString(v.input.method, baseStringUri(origin, target), v.input.params);
    expect(base).toBe(v.expected.base_string);
    expect(sign('sha1', Buffer.from(base), createPrivateKey(v.input.private_key_pkcs8_pem)).toString('base64')).toBe(
      v.expected.signature,
    );
    const keys = { consumerSecret: null, tokenSecret: '', publicKey: createPublicKey(v.input.public_key_spki_pem) };
    expect(verifySignature('RSA-SHA1', base, v.expected.signature, keys)).toBe(true);
    expect(verifySignature('RSA-SHA1', base + 'x', v.expected.signature, keys)).toBe(false);
    // the X.509 certificate form consumers often paste works as well
    const fromCert = { ...keys, publicKey: createPublicKey(v.input.certificate_pem) };
    expect(verifySignature('RSA-SHA1', base, v.expected.signature, fromCert)).toBe(true);
  });

  it.each(byKind('request'))('request %s', (_id, v) => {
    const { origin, target } = splitUrl(v.input.url);
    const h = Object.fromEntries(Object.entries(v.input.headers).map(([k, x]) => [k.toLowerCase(), x]));
    const collected = collectParams({
      method: v.input.method,
      origin,
      target,
      authorization: h.authorization,
      contentType: h['content-type'],
      body: v.input.body == null ? undefined : Buffer.from(v.input.body, 'utf8'),
    });
    expect(sortPairs(collected.signed)).toEqual(sortPairs(v.expected.params));
    expect(normaliseParams(collected.signed)).toBe(v.expected.normalized_params);
    const uri = baseStringUri(origin, target);
    expect(uri).toBe(v.expected.base_string_uri);
    const base = signatureBaseString(v.input.method, uri, collected.signed);
    expect(base).toBe(v.expected.base_string);
    const sig = hmacSignature('HMAC-SHA1', base, v.input.consumer_secret, v.input.token_secret);
    expect(sig).toBe(v.expected.signature_hmac_sha1);
    const keys = { consumerSecret: v.input.consumer_secret, tokenSecret: v.input.token_secret, publicKey: null };
    expect(verifySignature('HMAC-SHA1', base, sig, keys)).toBe(true);
  });
});
