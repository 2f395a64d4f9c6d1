/** `applink consumer …`: create, list, a new secret, a new public key, delete. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OPERATOR } from '../../services/actor';
import { invalidInput } from '../../errors';
import { consumerKeyField } from '../../fields';
import type { CliContext } from '../context';
import { table } from '../io';
import { json, options } from '../options';

const consumerCreateOptions = z.object({
  key: z.string(),
  name: z.string(),
  description: z.string().optional(),
  callback: z.string().optional(),
  publicKeyFile: z.string().optional(),
  secret: z.boolean(),
  ...json,
});
const consumerKeyOption = z.object({ key: consumerKeyField, ...json });
const setPublicKeyOptions = z.object({ key: consumerKeyField, publicKeyFile: z.string(), ...json });

/** A PEM file's text; a file that cannot be read is invalid input naming it. */
function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw invalidInput(`cannot read ${file}`);
  }
}

export function registerConsumers(program: Command, { io, withServices }: CliContext): void {
  const consumer = program.command('consumer').description('manage consumers (linked applications)');
  consumer
    .command('create')
    .description('register a consumer (an application that links to applink); prints its secret once')
    .requiredOption('--key <key>', 'the consumer key the application sends')
    .requiredOption('--name <name>', 'the name users see when they approve it')
    .option('--description <text>', 'a description shown with the name')
    .option('--callback <url>', 'registered callback: request-token callbacks must fall under it')
    .option('--public-key-file <pem>', 'RSA public key (or certificate) for RSA-SHA1/RSA-SHA256')
    .option('--no-secret', 'do not generate a shared secret (RSA only)')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(consumerCreateOptions, raw);
      const pem = o.publicKeyFile ? readPem(o.publicKeyFile) : undefined;
      const r = await withServices((s) =>
        s.consumers.create(OPERATOR, {
          key: o.key,
          name: o.name,
          description: o.description,
          callbackUrl: o.callback,
          publicKeyPem: pem,
          withSecret: o.secret,
        }),
      );
      if (o.json) io.out(JSON.stringify({ consumerKey: r.consumer.key, consumerSecret: r.secret }));
      else
        io.out(
          `consumer key:    ${r.consumer.key}\nconsumer secret: ${r.secret ?? '(none: RSA only)'}${r.secret ? '\n(the secret is shown once; store it now)' : ''}`,
        );
    });
  consumer
    .command('list')
    .description('list every consumer')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(z.object(json), raw);
      const list = await withServices((s) => s.consumers.list());
      io.out(
        o.json
          ? JSON.stringify(list)
          : table(
              list.map((c) => ({
                key: c.key,
                name: c.name,
                callback: c.callbackUrl ?? '',
                secret: c.hasSecret ? 'yes' : '',
                rsa: c.hasPublicKey ? 'yes' : '',
                disabled: c.disabled ? 'yes' : '',
              })),
            ),
      );
    });
  consumer
    .command('regenerate-secret')
    .description('give the consumer a new shared secret (printed once); the old one stops working at once')
    .requiredOption('--key <key>', 'the consumer key')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(consumerKeyOption, raw);
      const r = await withServices((s) => s.consumers.regenerateSecret(OPERATOR, { key: o.key }));
      if (o.json) io.out(JSON.stringify({ consumerKey: r.consumer.key, consumerSecret: r.secret }));
      else
        io.out(
          `consumer key:    ${r.consumer.key}\nconsumer secret: ${r.secret}\n(the secret is shown once; store it now${r.replaced ? '. The previous secret no longer works' : ''})`,
        );
    });
  consumer
    .command('set-public-key')
    .description("replace a consumer's RSA public key (RSA, 2048 bits or more; audited)")
    .requiredOption('--key <key>', 'the consumer key')
    .requiredOption('--public-key-file <pem>', 'the new RSA public key (or certificate), PEM')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(setPublicKeyOptions, raw);
      const pem = readPem(o.publicKeyFile);
      const c = await withServices((s) => s.consumers.replacePublicKey(OPERATOR, { key: o.key }, pem));
      io.out(
        o.json
          ? JSON.stringify({ consumerKey: c.key, publicKeyReplaced: true })
          : `replaced the public key of ${c.key}`,
      );
    });
  consumer
    .command('delete')
    .description('delete a consumer and every token it holds')
    .requiredOption('--key <key>', 'the consumer key')
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const o = options(consumerKeyOption, raw);
      const c = await withServices((s) => s.consumers.delete(OPERATOR, { key: o.key }));
      io.out(o.json ? JSON.stringify({ deleted: c.key }) : `deleted consumer ${c.key} and its tokens`);
    });
}
