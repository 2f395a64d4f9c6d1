#!/usr/bin/env node
'use strict';
// Every failure is one line on standard error and a non-zero exit, never a stack trace.
const fail = (e) => {
  const message = String((e && e.message) || e).split('\n')[0];
  process.stderr.write(`applink: unexpected error: ${message}\n`);
  process.exit(1);
};
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);
let cli;
try {
  cli = require('../dist/src/cli/index.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND') {
    process.stderr.write('applink: not built yet; run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  fail(e);
}
// In a checkout, at a terminal: say when the build is older than the sources (npm start
// rebuilds by itself; the command does not, so that it never compiles behind a script).
if (process.stderr.isTTY) {
  try {
    const why = require('../scripts/build.js').staleReason();
    if (why) process.stderr.write(`applink: note: ${why}; \`npm run build\` (or npm start) brings the build up to date\n`);
  } catch {
    // an installed package has no scripts/: nothing to compare
  }
}
cli.main(process.argv).then((code) => {
  if (code !== 0) process.exitCode = code;
}, fail);
