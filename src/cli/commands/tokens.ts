/** `applink token …`: list the live access tokens (grants), revoke one. */
import type { Command } from 'commander';
import { z } from 'zod';
import { OPERATOR } from '../../services/actor';
import { notFound } from '../../errors';
import { idField } from '../../fields';
import { grantFilterInput } from '../../services/grants';
import type { CliContext } from '../context';
import { iso, table } from '../io';
import { json, options } from '../options';

const tokenListOptions = z.object({ user: z.string().optional(), consumer: z.string().optional(), ...json });
const tokenRevokeOptions = z.object({ id: idField, ...json });

export function registerTokens(program: Command, { io, withServices }: CliContext): void {
  const token = program.command('token').description('manage access tokens (grants)');
  token
    .command('list')
    .description('list the live access tokens (grants)')
    .option('--user <username>', "only this user's tokens")
    .option('--consumer <key>', "only this consumer's tokens")
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(tokenListOptions, raw);
      const filter = options(grantFilterInput, { username: o.user, consumerKey: o.consumer });
      const grants = await withServices((s) => s.grants.list(filter));
      io.out(
        o.json
          ? JSON.stringify(grants)
          : table(
              grants.map((g) => ({
                id: g.id,
                user: g.username,
                consumer: g.consumerKey,
                authorized: iso(g.createdAt),
                'last used': iso(g.lastUsedAt),
                expires: iso(g.expiresAt),
              })),
            ),
      );
    });
  token
    .command('revoke')
    .description('revoke an access token: it stops working at once')
    .requiredOption('--id <id>', 'the token id, as `applink token list` shows it')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(tokenRevokeOptions, raw);
      const done = await withServices((s) => s.grants.revoke(OPERATOR, { id: o.id }));
      if (!done) throw notFound(`no live token with id ${o.id}`);
      io.out(o.json ? JSON.stringify({ revoked: o.id }) : `revoked token ${o.id}`);
    });
}
