#!/usr/bin/env node
// Runs the example consumer next to applink:
//
//   npm start                            # terminal 1: applink on http://127.0.0.1:3000
//   node examples/consumer/server.js     # terminal 2: this app on http://127.0.0.1:4000
//
// Without CONSUMER_KEY/CONSUMER_SECRET it registers itself once with the applink checkout
// it lives in (`applink consumer create`, same environment, so the same database) and keeps
// the credentials in data/example-consumer.json for the next start.
//
// Environment: APPLINK_URL (default http://127.0.0.1:3000), PORT (4000), HOST (127.0.0.1),
// PUBLIC_URL (default http://HOST:PORT), CONSUMER_KEY, CONSUMER_SECRET.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { createConsumerApp } = require('./app');

const ROOT = path.resolve(__dirname, '..', '..');
const port = Number(process.env.PORT || 4000);
const host = process.env.HOST || '127.0.0.1';
const publicUrl = process.env.PUBLIC_URL || `http://${host}:${port}`;
const applinkUrl = process.env.APPLINK_URL || 'http://127.0.0.1:3000';

function credentials() {
  if (process.env.CONSUMER_KEY && process.env.CONSUMER_SECRET)
    return { key: process.env.CONSUMER_KEY, secret: process.env.CONSUMER_SECRET };
  const file = path.join(ROOT, 'data', 'example-consumer.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  console.log('registering the example consumer with applink (applink consumer create)…');
  const out = execFileSync(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'applink.js'),
      'consumer',
      'create',
      '--key',
      'example-consumer',
      '--name',
      'Example consumer',
      '--description',
      'The demo app from examples/consumer: shows your applink profile.',
      '--callback',
      `${publicUrl}/callback`,
      '--json',
    ],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const created = JSON.parse(out);
  const creds = { key: created.consumerKey, secret: created.consumerSecret };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

let creds;
try {
  creds = credentials();
} catch {
  console.error(
    'Could not register the example consumer. Build applink first (npm start does), or set CONSUMER_KEY and ' +
      'CONSUMER_SECRET. If "example-consumer" exists already, delete it (npx applink consumer delete --key ' +
      'example-consumer) or pass its credentials.',
  );
  process.exit(1);
}

createConsumerApp({ applinkUrl, consumerKey: creds.key, consumerSecret: creds.secret, publicUrl }).listen(
  port,
  host,
  () => console.log(`example consumer on ${publicUrl} (consumer key ${creds.key}, applink at ${applinkUrl})`),
);
