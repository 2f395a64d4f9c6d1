// batched() (src/db/batch.ts) with an in-flight limit: the items that arrive while the
// limit is reached wait and leave together as soon as a run lands, never more runs than
// the limit at once, a lone item leaves at once, and a failed run neither loses items nor
// stalls the ones behind it.
import { describe, expect, it } from 'vitest';
import { batched, MAX_BATCH } from '../../src/db/batch';

/** A run whose batches are held until released: records every batch and how many ran at once. */
function heldRuns() {
  const batches: number[][] = [];
  const pending: Array<{ items: number[]; release(fail?: Error): void }> = [];
  let inFlight = 0;
  let most = 0;
  const run = (items: number[]): Promise<number[]> => {
    batches.push(items);
    inFlight++;
    most = Math.max(most, inFlight);
    return new Promise<number[]>((resolve, reject) => {
      pending.push({
        items,
        release: (fail) => {
          inFlight--;
          if (fail) reject(fail);
          else resolve(items.map((i) => i * 10));
        },
      });
    });
  };
  return { run, batches, pending, most: () => most };
}

const turn = () => new Promise<void>((done) => setImmediate(done));
/** a run landed: its answers, then the next run's start (one more turn) */
const landed = async () => {
  await turn();
  await turn();
};

describe('batched with maxInFlight', () => {
  it('sends a lone item at once, and the items arriving meanwhile together after it lands', async () => {
    const h = heldRuns();
    const call = batched(h.run, { maxInFlight: 1 });
    const first = call(1);
    await turn();
    expect(h.batches).toEqual([[1]]);
    // arrive over several rounds while the first run is in flight: they wait
    const later = [call(2), call(3)];
    await turn();
    later.push(call(4));
    await turn();
    expect(h.batches).toEqual([[1]]);
    h.pending.shift()?.release();
    expect(await first).toBe(10);
    await landed();
    expect(h.batches).toEqual([[1], [2, 3, 4]]);
    h.pending.shift()?.release();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
    expect(h.most()).toBe(1);
  });

  it('never runs more batches at once than the limit', async () => {
    const h = heldRuns();
    const call = batched(h.run, { maxInFlight: 2 });
    const answers: Array<Promise<number>> = [];
    for (let i = 0; i < 6; i++) {
      answers.push(call(i));
      await turn();
    }
    expect(h.batches).toEqual([[0], [1]]);
    while (h.pending.length > 0) {
      h.pending.shift()?.release();
      await landed();
    }
    expect(await Promise.all(answers)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(h.most()).toBe(2);
    expect(h.batches.flat()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(h.batches.length).toBeLessThan(6);
  });

  it('rejects the items of a failed run only, and the next run still leaves', async () => {
    const h = heldRuns();
    const call = batched(h.run, { maxInFlight: 1 });
    const failed = call(1);
    await turn();
    const next = call(2);
    await turn();
    h.pending.shift()?.release(new Error('connection lost'));
    await expect(failed).rejects.toThrow('connection lost');
    await landed();
    expect(h.batches).toEqual([[1], [2]]);
    h.pending.shift()?.release();
    expect(await next).toBe(20);
  });

  it('splits a waiting queue longer than MAX_BATCH into runs of at most MAX_BATCH', async () => {
    const h = heldRuns();
    const call = batched(h.run, { maxInFlight: 1 });
    const first = call(0);
    await turn();
    const rest = Array.from({ length: MAX_BATCH + 5 }, (_, i) => call(i + 1));
    await turn();
    expect(h.batches).toHaveLength(1);
    while (h.pending.length > 0) {
      h.pending.shift()?.release();
      await landed();
    }
    expect(await first).toBe(0);
    expect(await Promise.all(rest)).toEqual(Array.from({ length: MAX_BATCH + 5 }, (_, i) => (i + 1) * 10));
    expect(h.batches.map((b) => b.length)).toEqual([1, MAX_BATCH, 5]);
    expect(h.most()).toBe(1);
  });

  it('without a limit, sends every round at once (the SQLite default)', async () => {
    const h = heldRuns();
    const call = batched(h.run);
    const answers = [call(1), call(2)];
    await turn();
    answers.push(call(3));
    await turn();
    expect(h.batches).toEqual([[1, 2], [3]]);
    for (const p of h.pending.splice(0)) p.release();
    expect(await Promise.all(answers)).toEqual([10, 20, 30]);
  });
});
