/** `applink gateway …`: the gateway's assertion-signing keys (list, rotate). */
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_ACTIVATION_DELAY_MS } from '../../gateway/signing-keys';
import { OPERATOR } from '../../services/actor';
import type { CliContext } from '../context';
import { iso, table } from '../io';
import { json, options, wholeNumber } from '../options';

const gatewayRotateOptions = z.object({ activateIn: wholeNumber('--activate-in', 0, 86_400), ...json });

export function registerGateway(program: Command, { io, withServices }: CliContext): void {
  const gateway = program.command('gateway').description("the gateway's assertion-signing keys");
  gateway
    .command('keys')
    .description('list the signing keys: next, signing, retired')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const keys = await withServices((s) => s.keys.listGatewayKeys());
      io.out(
        o.json
          ? JSON.stringify(keys)
          : table(
              keys.map((k) => ({
                kid: k.kid,
                state: k.state,
                created: iso(k.createdAt),
                'signs from': iso(k.activatesAt),
                superseded: iso(k.supersededAt),
              })),
            ),
      );
    });
  gateway
    .command('rotate-key')
    .description('publish a new signing key now; it signs after --activate-in seconds')
    .option(
      '--activate-in <seconds>',
      'delay before the new key signs (0 = at once)',
      String(DEFAULT_ACTIVATION_DELAY_MS / 1000),
    )
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(gatewayRotateOptions, raw);
      const k = await withServices((s) => s.keys.rotateGatewayKey(OPERATOR, { activateInMs: o.activateIn * 1000 }));
      io.out(
        o.json
          ? JSON.stringify(k)
          : `new gateway key ${k.kid}: published now, signs from ${iso(k.activatesAt)}; older keys stay published until their assertions have expired`,
      );
    });
}
