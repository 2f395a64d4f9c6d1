/** What the CLI's commands print through, and how they print a table or a time. */

export interface Io {
  out: (s: string) => void;
  readStdin: () => Promise<string>;
}

export const defaultIo: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** A time in a table: ISO 8601, or `-` for none. */
export const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

/** What a table cell may hold: nothing (null, undefined) prints as nothing. */
export type Cell = string | number | boolean | null | undefined;

const cell = (v: Cell): string => (v === null || v === undefined ? '' : String(v));

/** Rows as aligned columns (the first row's keys are the headings); `(none)` for no rows. */
export function table(rows: Array<Record<string, Cell>>): string {
  const [first] = rows;
  if (!first) return '(none)';
  const cols = Object.keys(first);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}
