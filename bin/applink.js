#!/usr/bin/env node
'use strict';
let cli;
try {
  cli = require('../dist/src/cli/index.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND') {
    process.stderr.write('applink: not built yet; run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv).then((code) => {
  if (code !== 0) process.exitCode = code;
});
