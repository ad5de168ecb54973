// The hog workload in virtual time: its first pass runs flat out, later passes are
// paced, and stopping it ends its tasks and frees their memory and swap.
import { describe, expect, it } from 'vitest';
import { newWorkloadStats, startHog } from '../../nodes/workloads.ts';
import { makeModel } from '../helpers/model.ts';

describe('the hog', () => {
  it('initialises its working set flat out, then touches pagesPerBatch per batchIntervalMs', async () => {
    const { model, sched } = makeModel();
    const stats = newWorkloadStats();
    // 2 x 1000 pages: fits in RAM, no swapping.
    startHog(
      model,
      sched,
      { tasks: 2, pages: 2000, pagesPerBatch: 10, batchIntervalMs: 100 },
      stats,
    );
    await sched.runFor(1);
    // The first pass took no model time to speak of.
    expect(stats.hogTouches).toBeGreaterThanOrEqual(2000);
    const after = stats.hogTouches;
    await sched.runFor(1000);
    // Then 10 pages per 100 ms per task: 2 x 100 in a second (give or take a batch).
    expect(stats.hogTouches - after).toBeGreaterThanOrEqual(180);
    expect(stats.hogTouches - after).toBeLessThanOrEqual(220);
  });

  it('stopping it ends its tasks and gives back their memory and swap slots', async () => {
    const { model, sched } = makeModel();
    const stats = newWorkloadStats();
    // 1.5x RAM: part of it is in swap.
    const hog = startHog(
      model,
      sched,
      { tasks: 2, pages: 98_304, pagesPerBatch: 64, batchIntervalMs: 1 },
      stats,
    );
    await sched.runFor(20_000);
    expect(model.slots.used).toBeGreaterThan(0);
    const anonBefore = model.zone.pages('anon');
    expect(anonBefore).toBeGreaterThan(60_000);
    hog.stop();
    await sched.runFor(5_000);
    expect(hog.tasks.map((t) => t.activity)).toEqual(['exited', 'exited']);
    expect(model.zone.pages('anon')).toBeLessThan(anonBefore - 60_000);
    expect(model.zone.pages('writeback')).toBe(0);
    expect(model.slots.used).toBe(0);
    model.checkInvariants();
  });
});
