// Summarises a V8 .cpuprofile (from `BENCH_CPU_PROF=1 npm run bench`): where the server's
// time goes, by function (self time) and by package or source file (self time), so a
// profile can be read without a browser.
//   node dist/bench/profile-summary.js bench-profiles/applink-sqlite-….cpuprofile [top]
import { must } from './lib/must';
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (url === '') return '(native / VM)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const [pkg = '', sub = ''] = url.slice(nm + 'node_modules/'.length).split('/');
    return pkg.startsWith('@') ? `${pkg}/${sub}` : pkg;
  }
  if (url.startsWith('node:')) return url;
  const d = url.indexOf('/dist/');
  return d !== -1 ? url.slice(d + 6) : url;
}

export function summariseProfile(p: Profile, top = 25): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, sample] of p.samples.entries()) {
    self.set(sample, (self.get(sample) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, t] of self) {
    const n = must(byId.get(id), `profile node ${id}`);
    total += t;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      if (name === '(idle)') idle += t;
      fn.set(name, (fn.get(name) ?? 0) + t);
      file.set(name, (file.get(name) ?? 0) + t);
      continue;
    }
    const key = `${name}  ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + t);
    const f = where(n.callFrame.url);
    file.set(f, (file.get(f) ?? 0) + t);
  }
  // inclusive time: a node's own samples plus its descendants', counted once per function
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = must(byId.get(cur), `profile node ${cur}`);
      const name = n.callFrame.functionName;
      if (!name || name === '(root)' || name === '(idle)' || name === '(program)' || name === '(garbage collector)')
        continue;
      const key = `${name}  ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + t);
    }
  }
  const busy = total - idle;
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  const lines = [
    `busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled (percentages of busy)`,
  ];
  lines.push('', 'self time by package / file:');
  for (const [k, t] of [...file]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    lines.push(`  ${pct(t)}  ${k}`);
  lines.push('', 'self time by function:');
  for (const [k, t] of [...fn]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    lines.push(`  ${pct(t)}  ${k}`);
  lines.push('', 'inclusive time by function (with what it calls):');
  for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`);
  return lines.join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  process.stdout.write(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(top ?? 25)) + '\n');
}
