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

/**
 * Wraps `run` (which takes the items of one round and answers each, in order) into a
 * function taking one item at a time.
 */
export function batched<I, O>(run: (items: I[]) => O[] | Promise<O[]>): (item: I) => Promise<O> {
  let queue: Array<Pending<I, O>> = [];
  const flush = (): void => {
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    let out: O[] | Promise<O[]>;
    try {
      out = run(batch.map((p) => p.item));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    Promise.resolve(out).then(
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
    );
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ item, resolve, reject });
      if (queue.length >= MAX_BATCH) flush();
    });
}
