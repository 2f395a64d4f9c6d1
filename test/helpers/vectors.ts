// The shared OAuth 1.0a vectors (test/vectors/oauth1-vectors.json), typed kind by kind.
import vectors from '../vectors/oauth1-vectors.json';

type Pairs = Array<[string, string]>;
type Secrets = { consumer_secret: string; token_secret: string };
type Of<K extends string, I, E> = { id: string; kind: K; input: I; expected: E };

export type Vector =
  | Of<
      'request',
      { method: string; url: string; headers: Record<string, string>; body: string | null } & Secrets,
      {
        params: Pairs;
        normalized_params: string;
        base_string_uri: string;
        base_string: string;
        signature_hmac_sha1: string;
      }
    >
  | Of<'base_string_uri', { url: string }, { base_string_uri: string }>
  | Of<'percent_encode', { value: string }, { encoded: string }>
  | Of<'normalize_params', { form: string }, { params: Pairs; normalized_params: string }>
  | Of<'base_string', { method: string; url: string; params_form: string }, { params: Pairs; base_string: string }>
  | Of<'hmac_sha1', { base_string: string } & Secrets, { signature: string }>
  | Of<'hmac_sha256', { base_string: string } & Secrets, { signature: string }>
  | Of<'plaintext', Secrets, { signature: string }>
  | Of<
      'rsa_sha1',
      {
        method: string;
        url: string;
        params: Pairs;
        base_string: string;
        private_key_pkcs8_pem: string;
        certificate_pem: string;
        public_key_spki_pem: string;
      },
      { base_string: string; signature: string }
    >;

/** Every vector; the JSON's shape per kind is what `Vector` says (the vectors test checks the kinds). */
export const allVectors = vectors.vectors as Vector[];

/** The vectors of one kind, as [id, vector] rows for it.each. */
export const vectorsOfKind = <K extends Vector['kind']>(kind: K) =>
  allVectors.filter((v): v is Extract<Vector, { kind: K }> => v.kind === kind).map((v) => [v.id, v] as const);
