// A stand-in for an identity-aware proxy's signing side: key pairs generated here, a
// key set served from a loopback HTTP server (like Cloudflare Access's /cdn-cgi/access/certs),
// and assertions signed like the proxy signs them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export const ISSUER = 'https://team.cloudflareaccess.test';
export const AUDIENCE = 'aud-4f1c0e2b9a';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/** An assertion as the proxy makes it: valid for a few minutes, for ISSUER/AUDIENCE. */
export async function assertion(
  key: SigningKey,
  claims: JWTPayload & Record<string, unknown>,
  o: { iss?: string; aud?: string; expiresIn?: number; notBefore?: number; noExp?: boolean; kid?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.alg, kid: o.kid ?? key.kid, typ: 'JWT' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt(now);
  if (!o.noExp) jwt.setExpirationTime(now + (o.expiresIn ?? 300));
  if (o.notBefore !== undefined) jwt.setNotBefore(now + o.notBefore);
  return jwt.sign(key.privateKey);
}

export const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** The key set server: serves whatever keys it currently holds, counts its fetches. */
export class KeySetServer {
  hits = 0;
  keys: JWK[] = [];
  private server!: Server;
  url = '';

  static async start(keys: SigningKey[]): Promise<KeySetServer> {
    const s = new KeySetServer();
    s.keys = keys.map((k) => k.publicJwk);
    s.server = createServer((req, res) => {
      s.hits++;
      if (req.url !== '/cdn-cgi/access/certs') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: s.keys }));
    });
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}/cdn-cgi/access/certs`;
    return s;
  }

  publish(keys: SigningKey[]): void {
    this.keys = keys.map((k) => k.publicJwk);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A loopback URL nothing listens on (a port that was just free). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/cdn-cgi/access/certs`;
}

export const ssoEnv = (jwksUrl: string, extra: Record<string, string> = {}): Record<string, string> => ({
  APPLINK_SSO_JWKS_URL: jwksUrl,
  APPLINK_SSO_ISSUER: ISSUER,
  APPLINK_SSO_AUDIENCE: AUDIENCE,
  ...extra,
});
