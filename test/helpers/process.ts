// The real server as its own process (node dist/src/main.js, as `npm start` runs it), for
// tests that kill it or send it signals. Needs the build (`npm test` builds first).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db';
import { secretBoxFor } from '../../src/master-key';
import { createLogger } from '../../src/logger';
import { createWiring, type Wiring } from '../../src/wiring';
import { PROJECT_ROOT } from '../../src/paths';

export const MAIN = join(PROJECT_ROOT, 'dist', 'src', 'main.js');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** every log line so far, parsed */
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [MAIN], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 20_000);
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'applink listening') {
            clearTimeout(timer);
            resolve(entry.url as string);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${String(code ?? signal)}) before listening: ${stderr}`));
    });
  });
  return { child, url, logs, exited };
}

/** Runs fn over the services of the database the env names (migrated), then closes it. */
export async function withDatabase<T>(env: Record<string, string>, fn: (s: Wiring) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const db = openDatabase(config.database);
  try {
    await db.migrate();
    return await fn(createWiring(config, db, secretBoxFor(config), createLogger({ logLevel: 'silent' })));
  } finally {
    await db.close();
  }
}
