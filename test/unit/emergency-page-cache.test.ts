// The dynamic reserve: kvfree_rcu's page cache (kernel-reference.md section 8, seed
// 001) standing in for the reserve below min. 256 MiB machine: min 512, low 640.
// kswapd is stopped in most tests because its reclaim pass calls the cache's shrinker;
// the shrinker has tests of its own below.
import { describe, expect, it, vi } from 'vitest';
import type { EmergencyPageCache } from '../../reserve/emergency-page-cache.ts';
import { __GFP, GFP, gfpOr, type ExecContext, type GfpMask } from '../../reserve/gfp.ts';
import type { MemoryModel } from '../../reserve/memory-model.ts';
import { shrinkSlab } from '../../reserve/reclaim.ts';
import type { AllocRequest } from '../../reserve/page-allocator.ts';
import { PF, type Task } from '../../reserve/task.ts';
import { makeModel, setFree } from '../helpers/model.ts';

const MIN = 512;
const BASE = 5;
const BACKOFF_MS = 5000;
const SHRINK_AFTER_MS = 10_000;

/** A started dynamic-reserve model with kswapd stopped; free pages set before the first fill. */
function dynamicModel(options: { freeBeforeStart?: number; keepKswapd?: boolean } = {}) {
  const t = makeModel({ reserve: 'dynamic' });
  if (options.freeBeforeStart !== undefined) setFree(t.model, options.freeBeforeStart);
  t.model.start();
  if (!options.keepKswapd) t.model.kswapd.stop();
  const cache = t.model.emergency as EmergencyPageCache;
  expect(cache).toBeDefined();
  const memalloc = t.model.spawnTask('nbd-client');
  memalloc.flags |= PF.MEMALLOC;
  return { ...t, cache, memalloc };
}

function request(task: Task, gfp: GfpMask, exec: ExecContext = 'task'): AllocRequest {
  return { gfp, ctx: { exec, task }, use: 'kernel' };
}

/** A PF_MEMALLOC GFP_NOIO allocation (the swap-out path) that never sleeps. */
function memallocAlloc(model: MemoryModel, task: Task) {
  return model.allocator.tryAlloc(request(task, GFP.NOIO));
}

describe('the refill worker (clean context: GFP_KERNEL|__GFP_NORETRY|__GFP_NOMEMALLOC|__GFP_NOWARN)', () => {
  it('fills the cache to basePages (5) at start, from free pages, none of them pfmemalloc', async () => {
    const { model, sched, cache } = dynamicModel();
    expect(cache.cached).toBe(0);
    await sched.runFor(0);
    expect(cache.cached).toBe(BASE);
    expect(cache.target).toBe(BASE);
    expect(cache.sizePages()).toBe(BASE);
    expect(model.zone.free).toBe(65536 - BASE);
    expect(model.zone.reserveUsed).toBe(0);
    expect(model.stats.pfmemallocAllocs).toBe(0);
    model.checkInvariants();
  });

  it('never takes a page at or below min; its own reclaim round calls the shrinker', async () => {
    const { model, sched, cache } = dynamicModel({ freeBeforeStart: MIN + 4 });
    const freeAtTake: number[] = [];
    const take = model.zone.take.bind(model.zone);
    vi.spyOn(model.zone, 'take').mockImplementation((n, use, pfmemalloc) => {
      freeAtTake.push(model.zone.free);
      take(n, use, pfmemalloc);
    });
    await sched.runFor(100);
    // Four pages down to min. The fifth try at min reclaims directly; that reclaim pass
    // runs the cache's shrinker, which gives the four back, and the retry gets one.
    expect(freeAtTake).toEqual([MIN + 4, MIN + 3, MIN + 2, MIN + 1, MIN + 4]);
    expect(model.stats.directReclaimCalls).toBe(1);
    expect(cache.cached).toBe(1);
    expect(model.zone.free).toBe(MIN + 3);
    expect(model.zone.reserveUsed).toBe(0);
    expect(model.stats.pfmemallocAllocs).toBe(0);
  });

  it('at the min watermark it gets nothing and never touches the reserve', async () => {
    const { model, sched, cache, events } = dynamicModel({ freeBeforeStart: MIN });
    await sched.runFor(100);
    expect(cache.cached).toBe(0);
    expect(model.zone.free).toBe(MIN);
    expect(model.zone.reserveUsed).toBe(0);
    expect(model.stats.pfmemallocAllocs).toBe(0);
    expect(model.stats.reserveEmergencies).toBe(0);
    // __GFP_NORETRY: one reclaim round, then give up (no retry loop, no OOM kill);
    // __GFP_NOWARN: no allocation-failure report.
    expect(model.stats.directReclaimCalls).toBe(1);
    expect(model.stats.oomKills).toBe(0);
    expect(events.filter((e) => e.type === 'alloc-failure')).toEqual([]);
  });

  it('__GFP_NOMEMALLOC wins even if the worker runs with PF_MEMALLOC', async () => {
    const t = makeModel({ reserve: 'dynamic' });
    t.model.kworker.flags |= PF.MEMALLOC;
    setFree(t.model, 100);
    t.model.start();
    t.model.kswapd.stop();
    await t.sched.runFor(100);
    expect(t.model.emergency?.cached).toBe(0);
    expect(t.model.zone.free).toBe(100);
    expect(t.model.stats.pfmemallocAllocs).toBe(0);
    expect(t.model.stats.reserveEmergencies).toBe(0);
    expect(t.model.zone.reserveUsed).toBe(0);
  });
});

describe('reserve users take cache pages', () => {
  it('a PF_MEMALLOC allocation at or below min takes a cache page marked pfmemalloc', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runFor(0);
    setFree(model, MIN);
    expect(memallocAlloc(model, memalloc)).toEqual({ ok: true, pfmemalloc: true });
    setFree(model, 100);
    expect(memallocAlloc(model, memalloc)).toEqual({ ok: true, pfmemalloc: true });
    expect(cache.cached).toBe(BASE - 2);
    expect(model.zone.reserveUsed).toBe(2);
    expect(model.stats.pfmemallocAllocs).toBe(2);
    // The zone's free pages are not the reserve any more.
    expect(model.zone.free).toBe(100);
    model.checkInvariants();
  });

  it('one page above min the same allocation gets an ordinary page and the cache is untouched', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runFor(0);
    setFree(model, MIN + 1);
    expect(memallocAlloc(model, memalloc)).toEqual({ ok: true, pfmemalloc: false });
    expect(cache.cached).toBe(BASE);
    expect(model.zone.free).toBe(MIN);
    expect(model.zone.reserveUsed).toBe(0);
  });

  it('__GFP_MEMALLOC takes a cache page in any context, even hard IRQ', async () => {
    const { model, sched, cache } = dynamicModel();
    await sched.runFor(0);
    setFree(model, 100);
    const gfp = gfpOr(GFP.ATOMIC, __GFP.MEMALLOC);
    const r = model.allocator.tryAlloc(request(model.softirqTask, gfp, 'hardirq'));
    expect(r).toEqual({ ok: true, pfmemalloc: true });
    expect(cache.cached).toBe(BASE - 1);
    expect(model.zone.reserveUsed).toBe(1);
  });

  it('freeing a pfmemalloc page refills the cache first, then gives pages to the zone', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runFor(0);
    setFree(model, 100);
    for (let i = 0; i < 3; i++) expect(memallocAlloc(model, memalloc)?.ok).toBe(true);
    expect(cache.cached).toBe(2);
    expect(model.zone.reserveUsed).toBe(3);
    // No model time passes here: the refill worker has not run yet.
    model.allocator.free(1, 'kernel', true);
    expect(cache.cached).toBe(3);
    expect(model.zone.free).toBe(100);
    expect(model.zone.reserveUsed).toBe(2);
    // Memory comes back and the worker tops the cache up to basePages.
    setFree(model, 60_000);
    await sched.runFor(0);
    expect(cache.cached).toBe(BASE);
    expect(model.zone.free).toBe(60_000 - 2);
    // A full cache lets pfmemalloc pages go back to the zone.
    model.allocator.free(2, 'kernel', true);
    expect(cache.cached).toBe(BASE);
    expect(model.zone.free).toBe(60_000);
    expect(model.zone.reserveUsed).toBe(0);
    model.checkInvariants();
  });
});

describe('an empty cache is an emergency; the cache grows, then shrinks back', () => {
  it('a reserve allocation that finds the cache empty fails, is counted and reported, and grows the target', async () => {
    const { model, sched, cache, memalloc, events } = dynamicModel();
    await sched.runUntil(1000);
    setFree(model, 100);
    for (let i = 0; i < BASE; i++) expect(memallocAlloc(model, memalloc)?.ok).toBe(true);
    expect(model.stats.reserveEmergencies).toBe(0);
    expect(memallocAlloc(model, memalloc)).toEqual({ ok: false, reason: 'reserve-empty' });
    expect(model.stats.reserveEmergencies).toBe(1);
    expect(cache.emergencies).toBe(1);
    expect(events.filter((e) => e.type === 'reserve-emergency')).toEqual([
      { type: 'reserve-emergency', at: 1000, strategy: 'dynamic' },
    ]);
    expect(cache.target).toBeGreaterThan(BASE);
    expect(cache.target).toBeLessThanOrEqual(cache.options.maxPages);
    // The zone's 100 free pages below min are not handed out.
    expect(model.zone.free).toBe(100);
    expect(model.zone.reserveUsed).toBe(BASE);
  });

  it('the target never grows past maxPages', async () => {
    const t = makeModel({
      reserve: 'dynamic',
      emergencyCache: {
        basePages: 5,
        maxPages: 8,
        shrinkAfterMs: SHRINK_AFTER_MS,
        backoffMs: BACKOFF_MS,
      },
    });
    setFree(t.model, 100);
    t.model.start();
    t.model.kswapd.stop();
    const task = t.model.spawnTask('nbd-client');
    task.flags |= PF.MEMALLOC;
    for (let i = 0; i < 10; i++) expect(memallocAlloc(t.model, task)?.ok).toBe(false);
    expect(t.model.emergency?.target).toBe(8);
    expect(t.model.stats.reserveEmergencies).toBe(10);
  });

  it('the grown cache is filled, then shrinks back to basePages exactly shrinkAfterMs after the last emergency', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runUntil(1000);
    setFree(model, 100);
    for (let i = 0; i < BASE; i++) memallocAlloc(model, memalloc);
    expect(memallocAlloc(model, memalloc)?.ok).toBe(false);
    const grown = cache.target;
    // Memory comes back before the worker runs: it fills the cache to the new target.
    setFree(model, 60_000);
    await sched.runFor(0);
    expect(cache.cached).toBe(grown);
    expect(model.zone.free).toBe(60_000 - grown);
    await sched.runUntil(1000 + SHRINK_AFTER_MS - 1);
    expect(cache.target).toBe(grown);
    expect(cache.cached).toBe(grown);
    await sched.runUntil(1000 + SHRINK_AFTER_MS);
    expect(cache.target).toBe(BASE);
    expect(cache.cached).toBe(BASE);
    expect(model.zone.free).toBe(60_000 - BASE);
    model.checkInvariants();
  });

  it('another emergency postpones the shrink-back', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runUntil(1000);
    setFree(model, 100);
    for (let i = 0; i < BASE; i++) memallocAlloc(model, memalloc);
    expect(memallocAlloc(model, memalloc)?.ok).toBe(false);
    setFree(model, 60_000);
    await sched.runUntil(5000);
    setFree(model, 100);
    while (memallocAlloc(model, memalloc)?.ok === true);
    expect(cache.emergencies).toBe(2);
    setFree(model, 60_000);
    await sched.runUntil(1000 + SHRINK_AFTER_MS);
    expect(cache.target).toBeGreaterThan(BASE);
    await sched.runUntil(5000 + SHRINK_AFTER_MS - 1);
    expect(cache.target).toBeGreaterThan(BASE);
    await sched.runUntil(5000 + SHRINK_AFTER_MS);
    expect(cache.target).toBe(BASE);
    expect(cache.cached).toBe(BASE);
  });
});

describe('the shrinker drains the cache; refills then back off', () => {
  it('scan() gives every cached page back to the zone', async () => {
    const { model, sched, cache } = dynamicModel();
    await sched.runFor(0);
    setFree(model, 1000);
    expect(cache.scan()).toBe(BASE);
    expect(cache.cached).toBe(0);
    expect(model.zone.free).toBe(1000 + BASE);
    expect(model.zone.reserveUsed).toBe(0);
    model.checkInvariants();
  });

  it("kswapd's reclaim pass calls the shrinker and drains the cache", async () => {
    const { model, sched, cache } = dynamicModel({ keepKswapd: true });
    await sched.runFor(0);
    expect(cache.cached).toBe(BASE);
    // Below low: the allocation succeeds at min and wakes kswapd.
    setFree(model, 600);
    const task = model.spawnTask('user');
    expect(model.allocator.tryAlloc(request(task, GFP.KERNEL))?.ok).toBe(true);
    await sched.runFor(1);
    expect(model.stats.kswapdRuns).toBeGreaterThan(0);
    expect(cache.cached).toBe(0);
    expect(model.zone.free).toBe(599 + BASE);
    model.stop();
  });

  it('after the shrinker drained it, the refill waits out the 5000 ms back-off, then takes one page', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runUntil(1000);
    expect(cache.scan()).toBe(BASE);
    // A reserve user finds the cache empty and kicks the worker; memory is plentiful.
    setFree(model, 100);
    expect(memallocAlloc(model, memalloc)?.ok).toBe(false);
    setFree(model, 60_000);
    await sched.runUntil(1000 + BACKOFF_MS - 1);
    expect(cache.cached).toBe(0);
    await sched.runUntil(1000 + BACKOFF_MS);
    expect(cache.cached).toBe(1);
    expect(model.zone.free).toBe(60_000 - 1);
    // Limited to that one page: the worker does not fill up by itself.
    await sched.runUntil(1000 + BACKOFF_MS + 20_000);
    expect(cache.cached).toBe(1);
  });

  it('while the shrinker keeps asking, refills come one page per 5000 ms back-off', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runFor(0);
    expect(cache.cached).toBe(BASE);
    const refilled: number[] = [];
    // Memory pressure: the shrinker runs every 100 ms and drains whatever is cached, and a
    // reserve user keeps finding the cache empty (which kicks the worker).
    for (let t = 0; t <= 20_000; t += 100) {
      await sched.runUntil(t);
      if (t > 0 && cache.cached > 0) refilled.push(t);
      cache.scan();
      setFree(model, 100);
      expect(memallocAlloc(model, memalloc)?.ok).toBe(false);
      setFree(model, 60_000);
    }
    expect(refilled).toEqual([5000, 10_000, 15_000, 20_000]);
  });

  it('once the back-off page is in, the next use refills the cache to basePages at once', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runUntil(1000);
    cache.scan();
    setFree(model, 100);
    memallocAlloc(model, memalloc);
    setFree(model, 60_000);
    await sched.runUntil(1000 + BACKOFF_MS + SHRINK_AFTER_MS);
    expect(cache.target).toBe(BASE);
    expect(cache.cached).toBe(1);
    const at = sched.now();
    setFree(model, 100);
    expect(memallocAlloc(model, memalloc)).toEqual({ ok: true, pfmemalloc: true });
    setFree(model, 60_000);
    await sched.runFor(0);
    expect(cache.cached).toBe(BASE);
    expect(sched.now()).toBe(at);
  });
});

describe('shrink_slab (proportional, as before 4.16)', () => {
  function fakeShrinker(objects: number) {
    const calls: number[] = [];
    let held = objects;
    let counted = 0;
    return {
      calls,
      get held() {
        return held;
      },
      get counted() {
        return counted;
      },
      seeks: 2,
      count: () => {
        counted++;
        return held;
      },
      scan: (n: number) => {
        calls.push(n);
        const k = Math.min(n, held);
        held -= k;
        return k;
      },
    };
  }

  it('asks every pass but scans 5 pages only after about 1024 passes of 32 over 65536 LRU pages', () => {
    const s = fakeShrinker(5);
    const state = { deferred: 0 };
    let passes = 0;
    while (s.calls.length === 0 && passes < 5000) {
      shrinkSlab(s, state, 32, 65_535);
      passes++;
    }
    // delta per pass = 4 * 32 / 2 * 5 / 65536 ~ 0.0049: 5 objects' worth after 1024 passes.
    expect(passes).toBe(1024);
    expect(s.counted).toBe(1024);
    expect(s.held).toBe(0);
  });

  it('scans a big cache in batches of 128, never more than twice what it holds per pass', () => {
    const s = fakeShrinker(1000);
    const state = { deferred: 0 };
    // Scanning the whole LRU asks for 4/seeks = twice the objects, capped at 2 x 1000.
    expect(shrinkSlab(s, state, 65_535, 65_535)).toBe(1000);
    expect(s.calls.slice(0, 7)).toEqual([128, 128, 128, 128, 128, 128, 128]);
  });

  it('the emergency cache: count() sets the refill back-off, scan() drains everything', async () => {
    const { model, sched, cache, memalloc } = dynamicModel();
    await sched.runFor(0);
    expect(cache.count()).toBe(BASE);
    expect(cache.cached).toBe(BASE);
    // Take one page: the refill worker now waits out the back-off set by count().
    setFree(model, 100);
    expect(memallocAlloc(model, memalloc)?.ok).toBe(true);
    setFree(model, 60_000);
    await sched.runFor(BACKOFF_MS - 1);
    expect(cache.cached).toBe(BASE - 1);
    await sched.runFor(1);
    expect(cache.cached).toBe(BASE);
    expect(cache.scan(1)).toBe(BASE);
    expect(cache.cached).toBe(0);
  });
});
