/**
 * Batching of the hot path's database work. The calls made while the event loop handles
 * one round of I/O (every request that arrived together) are run together at the end of
 * that round, in one statement or one transaction: on SQLite one write-ahead-log commit
 * per round instead of one per call; on PostgreSQL one round trip per round.
 *
 * This is not a cache: an item is only ever answered by a statement that started after
 * the item was queued, so every answer is as fresh as an unbatched query would have been.
 */

/** Most items in one statement (bounds the statement's size and a round's latency). */
export const MAX_BATCH = 128;

interface Pending<I, O> {
  item: I;
  resolve(out: O): void;
  reject(err: unknown): void;
}

export interface BatchOptions {
  /**
   * At most this many runs in flight at once (default: no limit). Items that arrive while
   * the limit is reached wait for the next run, which starts as soon as one finishes: under
   * load the batches grow with the round trip instead of the round trips multiplying (the
   * classic group commit); a lone item still goes out at once.
   */
  maxInFlight?: number;
}

/**
 * Wraps `run` (which takes the items of one round and answers each, in order) into a
 * function taking one item at a time.
 */
export function batched<I, O>(
  run: (items: I[]) => O[] | Promise<O[]>,
  options: BatchOptions = {},
): (item: I) => Promise<O> {
  const maxInFlight = options.maxInFlight ?? Infinity;
  let queue: Array<Pending<I, O>> = [];
  let inFlight = 0;
  let scheduled = false;
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  const landed = (): void => {
    inFlight--;
    if (queue.length > 0) schedule();
  };
  const flush = (): void => {
    scheduled = false;
    if (queue.length === 0 || inFlight >= maxInFlight) return;
    const batch = queue.length > MAX_BATCH ? queue.splice(0, MAX_BATCH) : queue;
    if (batch === queue) queue = [];
    else if (queue.length > 0) schedule();
    let out: O[] | Promise<O[]>;
    try {
      out = run(batch.map((p) => p.item));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    inFlight++;
    Promise.resolve(out)
      .then(
        (answers) => {
          // one answer per call, in order; anything else is a broken `run`, never a silent undefined
          if (answers.length !== batch.length) {
            const err = new Error(`batch: ${answers.length} answers for ${batch.length} calls`);
            for (const p of batch) p.reject(err);
            return;
          }
          // (entries(), not forEach: a run may answer with a sparse array, and a hole is its undefined)
          for (const [i, answer] of answers.entries()) batch[i]?.resolve(answer);
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      )
      .finally(landed);
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (queue.length >= MAX_BATCH && inFlight < maxInFlight) flush();
      else schedule();
    });
}
