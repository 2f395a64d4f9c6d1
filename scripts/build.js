#!/usr/bin/env node
'use strict';
/**
 * The build (`npm run build`, and what `npm start` and `applink` run when the sources are
 * newer than the last build): an incremental tsc, then a stamp recording when it finished.
 *
 *   node scripts/build.js           build now
 *   require('./build').ensureBuilt() build only when a source is newer than the stamp
 */
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.built');
// What tsconfig.json compiles, and the config itself.
const SOURCES = ['src', 'migrations', 'bench', 'tsconfig.json'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return path.endsWith('.ts') || path.endsWith('.json') ? st.mtimeMs : 0;
  // a folder's own time moves when a file in it is added, removed or renamed
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why a build is needed, or null when dist/ is up to date. */
function staleReason(root = ROOT) {
  const main = join(root, 'dist', 'src', 'main.js');
  const stamp = join(root, 'dist', '.built');
  if (!existsSync(main)) return 'not built yet';
  // this script's stamp, or a plain `tsc -p tsconfig.json` (which rewrites every output)
  const built = Math.max(statSync(main).mtimeMs, existsSync(stamp) ? statSync(stamp).mtimeMs : 0);
  const newest = Math.max(...SOURCES.map((s) => newestMtime(join(root, s))));
  return newest > built ? 'the sources changed since the last build' : null;
}

/**
 * Deletes compiled files whose source is gone. An incremental tsc never removes outputs, so
 * a module replaced by a folder of the same name (http/web.ts -> http/web/index.ts) would
 * leave dist/src/http/web.js behind, and `require('./web')` would load the stale file.
 * Returns the paths removed (relative to dist/).
 */
function pruneOrphans(root = ROOT) {
  const removed = [];
  const walk = (rel) => {
    const dir = join(root, 'dist', rel);
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const relPath = join(rel, entry.name);
      if (entry.isDirectory()) {
        walk(relPath);
        continue;
      }
      const m = /^(.*)\.(js|js\.map|d\.ts)$/.exec(entry.name);
      if (!m) continue;
      if (!existsSync(join(root, rel, `${m[1]}.ts`))) {
        rmSync(join(dir, entry.name));
        removed.push(relPath);
      }
    }
  };
  for (const top of ['src', 'migrations', 'bench']) walk(top);
  return removed;
}

/** Runs tsc; returns true on success (tsc prints its own errors). */
function build() {
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  } catch {
    process.stderr.write('applink: cannot build: typescript is not installed (run `npm install`)\n');
    return false;
  }
  const r = spawnSync(
    process.execPath,
    [tsc, '-p', join(ROOT, 'tsconfig.json'), '--incremental', '--tsBuildInfoFile', join(DIST, '.tsbuildinfo')],
    { stdio: 'inherit', cwd: ROOT },
  );
  if (r.status !== 0) return false;
  pruneOrphans();
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  return true;
}

/**
 * Builds only when needed. Returns false when a needed build failed; a built copy that
 * cannot be rebuilt (no typescript: a production install) is used as it is.
 */
function ensureBuilt() {
  const why = staleReason();
  if (!why) return true;
  const hasBuild = existsSync(join(DIST, 'src', 'main.js'));
  let hasTsc = true;
  try {
    require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  } catch {
    hasTsc = false;
  }
  if (!hasTsc && hasBuild) return true;
  process.stderr.write(`applink: building (${why})…\n`);
  return build();
}

module.exports = { ensureBuilt, build, staleReason, pruneOrphans };

if (require.main === module) process.exit(build() ? 0 : 1);
