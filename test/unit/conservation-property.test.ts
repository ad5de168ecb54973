// Property: whatever happens to machine A's memory, every page is in exactly one state
// (page conservation), pfmemalloc pages are never more than the pages held, and swap
// accounting holds. Random operation sequences with a fixed seed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { __GFP, GFP, gfpOr, type GfpMask } from '../../reserve/gfp.ts';
import { PF } from '../../reserve/task.ts';
import type { PageUse } from '../../reserve/zone.ts';
import { makeModel } from '../helpers/model.ts';

const SEED = 20261121;

const GFPS: readonly GfpMask[] = [
  GFP.KERNEL,
  GFP.NOIO,
  GFP.NOFS,
  GFP.ATOMIC,
  GFP.NOWAIT,
  gfpOr(GFP.ATOMIC, __GFP.MEMALLOC),
  gfpOr(GFP.KERNEL, __GFP.NORETRY),
  gfpOr(GFP.KERNEL, __GFP.NOMEMALLOC),
];

const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('alloc' as const),
      gfp: fc.nat(GFPS.length - 1),
      memalloc: fc.boolean(),
      order: fc.nat(2),
      count: fc.integer({ min: 1, max: 150 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('free' as const),
      which: fc.nat(1000),
      count: fc.integer({ min: 1, max: 100 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('touch' as const),
      page: fc.nat(1699),
      len: fc.integer({ min: 1, max: 600 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('read-file' as const), pages: fc.nat(300) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('partition' as const), on: fc.boolean() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 1, max: 500 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), roll: fc.nat(4) }) },
);

describe('page conservation (property)', () => {
  it('random operation sequences never break conservation or swap accounting', async () => {
    const totals = { writeouts: 0, swapIns: 0, pfmemalloc: 0, kills: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 120 }), async (ops) => {
        const t = makeModel({ ramPages: 2048, swapPages: 4096 }, { queueDepth: 16 });
        const { model, sched, device } = t;
        model.start();
        // A kernel task is one thread of execution: each task below runs its operations
        // one after another on its own chain; the tasks run concurrently.
        const hogs = [0, 1, 2].map((i) => {
          const task = model.spawnTask(`hog${i}`);
          return { task, region: model.anon.map(task, 1700), chain: Promise.resolve() };
        });
        const workers = [0, 1].map((i) => ({
          task: model.spawnTask(`worker${i}`),
          chain: Promise.resolve(),
        }));
        const held: Array<{ n: number; use: PageUse; pf: boolean }> = [];
        const touchRange = async (
          hog: (typeof hogs)[number],
          start: number,
          len: number,
        ): Promise<void> => {
          for (let i = 0; i < len && !hog.task.killed; i++) {
            const page = hog.region.base + ((start + i) % hog.region.count);
            if (!model.anon.tryTouch(page)) await model.anon.fault(hog.task, page);
          }
        };
        const onChain = <T extends { chain: Promise<void> }>(
          who: T,
          work: () => Promise<unknown>,
        ): void => {
          who.chain = who.chain.then(async () => {
            await work();
          });
        };
        // Memory starts nearly full of anon pages: later touches have to reclaim.
        for (const hog of hogs) onChain(hog, () => touchRange(hog, 0, 640));
        await sched.runFor(300);
        for (const [step, o] of ops.entries()) {
          const worker = workers[step % workers.length] as (typeof workers)[number];
          const hog = hogs[step % hogs.length] as (typeof hogs)[number];
          switch (o.kind) {
            case 'alloc': {
              const gfp = GFPS[o.gfp] as GfpMask;
              const exec = gfp & __GFP.DIRECT_RECLAIM ? 'task' : 'softirq';
              const use: PageUse = exec === 'softirq' ? 'skb' : 'kernel';
              onChain(worker, async () => {
                const saved = worker.task.flags;
                if (o.memalloc) worker.task.flags |= PF.MEMALLOC;
                const req = { gfp, order: o.order, ctx: { exec, task: worker.task }, use } as const;
                for (let i = 0; i < o.count && !worker.task.killed; i++) {
                  const r = model.allocator.tryAlloc(req) ?? (await model.allocator.alloc(req));
                  if (!r.ok) break;
                  held.push({ n: 1 << o.order, use, pf: r.pfmemalloc });
                }
                worker.task.flags = saved;
              });
              break;
            }
            case 'free':
              for (const h of held.splice(o.which % Math.max(held.length, 1), o.count)) {
                model.allocator.free(h.n, h.use, h.pf);
              }
              break;
            case 'touch':
              onChain(hog, () => touchRange(hog, o.page, o.len));
              break;
            case 'read-file':
              onChain(worker, () => model.files.read(worker.task, o.pages));
              break;
            case 'partition':
              if (o.on) device.partition();
              else device.heal();
              break;
            case 'advance':
              await sched.runFor(o.ms);
              break;
            case 'kill':
              // An outside OOM decision now and then (one roll in five).
              if (o.roll === 0) model.oom.outOfMemory(GFP.KERNEL, 0, worker.task, null);
              break;
          }
          model.checkInvariants();
          expect(model.zone.reserveUsed).toBeLessThanOrEqual(
            model.zone.managedPages - model.zone.free,
          );
        }
        device.heal();
        await sched.runFor(3000);
        model.checkInvariants();
        model.stop();
        totals.writeouts += model.stats.writeoutCompleted;
        totals.swapIns += model.stats.swapIns;
        totals.pfmemalloc += model.stats.pfmemallocAllocs;
        totals.kills += model.stats.oomKills;
      }),
      { seed: SEED, numRuns: 60 },
    );
    // The sequences really exercised writeout, swap-in, the reserve and the OOM killer.
    expect(totals.writeouts).toBeGreaterThan(1000);
    expect(totals.swapIns).toBeGreaterThan(100);
    expect(totals.pfmemalloc).toBeGreaterThan(0);
    expect(totals.kills).toBeGreaterThan(0);
  }, 60_000);
});
