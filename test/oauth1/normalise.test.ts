// normaliseParams sorts in place without substrings (hot path); it must agree with the
// plain reading of RFC 5849 §3.4.1.3.2 on any input: encode, sort by name, then by value.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { normaliseParams, signatureBaseString } from '../../src/oauth1/base-string';
import { percentEncode } from '../../src/oauth1/encoding';

function reference(pairs: Array<[string, string]>): string {
  return pairs
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

const text = fc.oneof(
  fc.string({
    unit: fc.constantFrom('a', 'b', 'A', '-', '.', '_', '~', '=', '&', ' ', '%', 'é', '+', '1'),
    maxLength: 6,
  }),
  fc.string({ maxLength: 8 }).filter((s) => !/[\uD800-\uDFFF]/.test(s)),
);

describe('normaliseParams', () => {
  it('orders like the RFC: by encoded name, then by encoded value', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 12 }), (pairs) => {
        expect(normaliseParams(pairs)).toBe(reference(pairs));
      }),
      { numRuns: 2000 },
    );
  });

  it('puts a name before a longer name it is a prefix of, and empty values first', () => {
    expect(
      normaliseParams([
        ['a-', '1'],
        ['a', '2'],
        ['a', ''],
        ['ab', '0'],
      ]),
    ).toBe('a=&a=2&a-=1&ab=0');
  });

  it('encodes the normalised parameters into the base string exactly as §3.4.1.1 composes it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 12 }), (pairs) => {
        const uri = 'https://example.com/a%20b';
        expect(signatureBaseString('post', uri, pairs)).toBe(
          `POST&${percentEncode(uri)}&${percentEncode(normaliseParams(pairs))}`,
        );
      }),
      { numRuns: 2000 },
    );
  });
});
