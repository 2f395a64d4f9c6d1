/** `applink keys …`: the master key that seals secrets at rest (generate, status, repair, rotate). */
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { keyId } from '../../secret-box';
import { OPERATOR } from '../../services/actor';
import type { CliContext } from '../context';
import { table } from '../io';
import { json, options, wholeNumber } from '../options';

const rotateOptions = z.object({ batchSize: wholeNumber('--batch-size', 1, 1_000_000), ...json });
const repairOptions = z.object({ forgetKey: z.string(), ...json });

export function registerKeys(program: Command, { io, withServices }: CliContext): void {
  const keys = program.command('keys').description('the master key that encrypts secrets at rest');
  keys
    .command('generate')
    .description('print a new random master key (base64); nothing is stored')
    .option('--json', 'machine-readable output')
    .action((raw: unknown) => {
      const o = options(z.object(json), raw);
      const key = randomBytes(32);
      io.out(o.json ? JSON.stringify({ key: key.toString('base64'), keyId: keyId(key) }) : key.toString('base64'));
    });
  keys
    .command('status')
    .description('which keys seal the stored secrets, and what to do when one is missing (works with a wrong key)')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const r = await withServices((s) => s.keys.masterKeyStatus());
      const stale = r.columns.reduce(
        (n, c) => n + Object.entries(c.byKey).reduce((m, [id, k]) => m + (id === r.currentKeyId ? 0 : k), 0),
        0,
      );
      const missing = [...new Set([...r.recordedKeyIds, ...r.columns.flatMap((c) => Object.keys(c.byKey))])].filter(
        (id) => !r.loadedKeyIds.includes(id),
      );
      if (o.json) {
        io.out(JSON.stringify({ ...r, stale, missingKeyIds: missing }));
        return;
      }
      const lines = [
        `current key: ${r.currentKeyId}`,
        `loaded keys: ${r.loadedKeyIds.join(', ')}`,
        `this installation's keys: ${r.recordedKeyIds.join(', ') || '(none recorded yet)'}`,
        table(
          r.columns.flatMap((c) =>
            Object.entries(c.byKey).map(([id, n]) => ({
              table: c.table,
              key: id === r.currentKeyId ? `${id} (current)` : r.loadedKeyIds.includes(id) ? id : `${id} (NOT LOADED)`,
              secrets: n,
            })),
          ),
        ),
      ];
      if (missing.length > 0)
        lines.push(
          `key ${missing.join(', ')} is not loaded: the server and every other command refuse to run.`,
          '- with the right key this installation was set up with, run again with APPLINK_SECRET_KEY set to it; or',
          '- if secrets were sealed under a wrong key that you still have: add it to APPLINK_PREVIOUS_SECRET_KEYS and run `applink keys rotate`; or',
          `- if that key is lost: \`applink keys repair --forget-key ${String(missing[0])}\` (new consumer secrets, revoked tokens; see the README)`,
        );
      else if (stale > 0)
        lines.push(`${stale} stored secrets are sealed under older keys: run \`applink keys rotate\``);
      else lines.push('every stored secret is sealed under the current key');
      io.out(lines.join('\n'));
    });
  keys
    .command('repair')
    .description('forget a lost master key: what it sealed gets new secrets or is revoked (run with the right key)')
    .requiredOption('--forget-key <id>', 'the lost key id, as `applink keys status` shows it')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(repairOptions, raw);
      const r = await withServices((s) => s.keys.forgetMasterKey(OPERATOR, { keyId: o.forgetKey }));
      if (o.json) {
        io.out(JSON.stringify(r));
        return;
      }
      io.out(
        [
          `forgot key ${r.keyId}: ${r.accessTokensRevoked} access tokens revoked, ${r.requestTokensDeleted} request tokens and ${r.gatewayKeysDeleted} gateway keys deleted`,
          ...r.consumers.map((c) => `consumer ${c.key}: new secret ${c.secret}`),
          ...(r.consumers.length > 0 ? ['(the new secrets are shown once: give each to its application now)'] : []),
        ].join('\n'),
      );
    });
  keys
    .command('rotate')
    .description('re-encrypt every stored secret under the current key (servers may keep running)')
    .option('--batch-size <n>', 'rows per transaction', '200')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(rotateOptions, raw);
      const r = await withServices((s) => s.keys.rotateMasterKey(OPERATOR, { batchSize: o.batchSize }));
      io.out(
        o.json
          ? JSON.stringify(r)
          : `re-encrypted ${r.rotated} stored secrets under key ${r.currentKeyId}\n` +
              'once every server runs with this key as APPLINK_SECRET_KEY, the old key can leave APPLINK_PREVIOUS_SECRET_KEYS',
      );
    });
}
