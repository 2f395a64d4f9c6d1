// The example consumer (examples/consumer/app.js) on a free port, and an "attacker" site
// on another origin, for the browser tests.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestServer } from './server';

const { createConsumerApp } = require('../../examples/consumer/app.js') as {
  createConsumerApp: (o: {
    applinkUrl: string;
    consumerKey: string;
    consumerSecret: string;
    publicUrl: string;
  }) => RequestListener;
};

export interface Site {
  /** the site's URL (no trailing slash) */
  url: string;
  port: number;
  close(): Promise<void>;
}

async function listen(handler: RequestListener | null, host = '127.0.0.1'): Promise<Site & { server: Server }> {
  const server = createServer(handler ?? undefined);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A port for the example consumer first (its callback must be registered with the
 * consumer), the app itself once the key and secret exist. It is reached as
 * `localhost`, another site than applink's `127.0.0.1`, so SameSite cookies behave as
 * between two real sites.
 */
export async function reserveConsumerSite(): Promise<
  Site & { callbackUrl: string; start(applink: TestServer, key: string, secret: string): void }
> {
  const site = await listen(null);
  const url = `http://localhost:${site.port}`;
  return {
    ...site,
    url,
    callbackUrl: `${url}/callback`,
    start(applink, key, secret) {
      const app = createConsumerApp({
        applinkUrl: applink.url,
        consumerKey: key,
        consumerSecret: secret,
        publicUrl: url,
      });
      site.server.removeAllListeners('request');
      site.server.on('request', app);
    },
  };
}

/** Another origin (same site as applink: 127.0.0.1, another port) serving one HTML page. */
export async function attackerSite(html: () => string): Promise<Site> {
  return listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html());
  });
}
