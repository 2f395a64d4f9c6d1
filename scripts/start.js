#!/usr/bin/env node
'use strict';
// `npm start`: serve the built output, rebuilding first only when a source is newer than
// the last build (a start with nothing changed runs no compiler).
const { ensureBuilt } = require('./build');

if (!ensureBuilt()) process.exit(1);
require('../dist/src/main.js').serve();
