// Property: whatever mix of blocking and non-blocking mempool_alloc, mempool_free and
// memory pressure, the pool holds between 0 and min_nr elements, no element is lost or
// duplicated (kernel pages = the test's own + the pool's + the callers'), the reserve
// is never touched (__GFP_NOMEMALLOC), and a caller that may block never gets NULL.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, type GfpMask } from '../../reserve/gfp.ts';
import { MEMPOOL_STRATEGIES, Mempool } from '../../reserve/mempool.ts';
import { PF } from '../../reserve/task.ts';
import { makeModel, setFree } from '../helpers/model.ts';

const SEED = 424242;

const BLOCKING: readonly GfpMask[] = [GFP.KERNEL, GFP.NOIO, GFP.NOFS];
const NON_BLOCKING: readonly GfpMask[] = [GFP.NOWAIT, GFP.ATOMIC];

const op = fc.oneof(
  fc.record({
    kind: fc.constant('alloc' as const),
    blocking: fc.boolean(),
    gfp: fc.nat(2),
    memalloc: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('free' as const) }),
  // Free pages around the watermarks: min/2 = 256, min = 512, low = 640, high = 768.
  fc.record({ kind: fc.constant('pressure' as const), free: fc.integer({ min: 0, max: 1500 }) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 6000 }) }),
);

describe('mempool (property)', () => {
  it('random alloc/free/pressure sequences keep 0 <= curr <= min_nr and conserve pages', async () => {
    const totals = { fromPool: 0, waits: 0, nulls: 0, timeouts: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...MEMPOOL_STRATEGIES),
        fc.integer({ min: 0, max: 4 }),
        fc.array(op, { minLength: 1, maxLength: 60 }),
        async (strategy, minNr, ops) => {
          const { model, sched } = makeModel();
          const pool = new Mempool(model.allocator, sched, { minNr, strategy });
          const plain = { exec: 'task', task: model.spawnTask('kcryptd') } as const;
          const memallocTask = model.spawnTask('nbd-client');
          memallocTask.flags |= PF.MEMALLOC;
          const memalloc = { exec: 'task', task: memallocTask } as const;
          expect(await pool.fill(plain)).toBe(true);

          let staged = 0;
          let held = 0;
          let pending = 0;
          let blockingGotNull = false;
          const check = (): void => {
            expect(pool.curr).toBeGreaterThanOrEqual(0);
            expect(pool.curr).toBeLessThanOrEqual(minNr);
            expect(model.zone.pages('kernel')).toBe(staged + pool.curr + held);
            expect(model.zone.reserveUsed).toBe(0);
            expect(model.stats.pfmemallocAllocs).toBe(0);
            expect(blockingGotNull).toBe(false);
            model.checkInvariants();
          };
          check();

          for (const o of ops) {
            switch (o.kind) {
              case 'alloc': {
                const ctx = o.memalloc ? memalloc : plain;
                if (o.blocking) {
                  pending++;
                  void pool.alloc(ctx, BLOCKING[o.gfp] as GfpMask).then((r) => {
                    pending--;
                    if (r) held++;
                    else blockingGotNull = true;
                  });
                } else {
                  const gfp = NON_BLOCKING[o.gfp % NON_BLOCKING.length] as GfpMask;
                  const r = await pool.alloc(ctx, gfp);
                  if (r) held++;
                  // NULL only when the allocator failed and the pool was empty.
                  else expect(pool.curr).toBe(0);
                }
                break;
              }
              case 'free':
                if (held > 0) {
                  held--;
                  pool.free();
                }
                break;
              case 'pressure':
                staged += model.zone.free - o.free;
                setFree(model, o.free);
                break;
              case 'advance':
                await sched.runFor(o.ms);
                break;
            }
            // Let continuations of this step settle without moving the clock.
            await sched.runFor(0);
            check();
          }

          // Memory comes back: every sleeper gets its element within one 5*HZ sleep.
          staged += model.zone.free - 60_000;
          setFree(model, 60_000);
          await sched.runFor(5001);
          expect(pending).toBe(0);
          check();
          const expectedCurr = Math.min(minNr, pool.curr + held);
          while (held > 0) {
            held--;
            pool.free();
          }
          expect(pool.curr).toBe(expectedCurr);
          check();

          totals.fromPool += pool.stats.fromPool;
          totals.waits += pool.stats.waits;
          totals.nulls += pool.stats.nulls;
          totals.timeouts += pool.stats.waitTimeouts;
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
    // The runs reached every interesting path, or the property proved little.
    expect(totals.fromPool).toBeGreaterThan(0);
    expect(totals.waits).toBeGreaterThan(0);
    expect(totals.nulls).toBeGreaterThan(0);
    expect(totals.timeouts).toBeGreaterThan(0);
  });
});
