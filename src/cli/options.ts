/** The CLI's options: what commander hands over, checked once by a schema. */
import { z } from 'zod';
import { parseInput } from '../fields';

/** `--json`, which every command takes. */
export const json = { json: z.boolean().optional() };

/** The CLI's options, parsed; a refusal is ServiceError('invalid_input') (one line, exit 1). */
export const options = <S extends z.ZodType>(schema: S, o: unknown): z.output<S> => parseInput(schema, o);

/** A whole-number option from `min` to `max`, its refusal naming the option. */
export const wholeNumber = (name: string, min: number, max: number) =>
  z.string().transform((v, ctx) => {
    const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) {
      ctx.issues.push({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}`, input: v });
      return z.NEVER;
    }
    return n;
  });
