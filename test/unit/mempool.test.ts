// mempool_alloc / mempool_free (kernel-reference.md section 3, seed 000) at exact
// boundaries, in virtual time. The machine is 256 MiB: min 512, low 640, high 768.
// With no reclaimable memory a direct reclaim round frees nothing and sleeps one
// jiffy (reclaim_throttle, VMSCAN_THROTTLE_NOPROGRESS), so a blocking caller that
// finds the pool empty starts sleeping on pool->wait at t=1.
import { describe, expect, it, vi } from 'vitest';
import { __GFP, GFP, describeGfp, gfpOr, gfpWithout, type GfpMask } from '../../reserve/gfp.ts';
import { MEMPOOL_WAIT_MS, Mempool, type MempoolStrategy } from '../../reserve/mempool.ts';
import { PF } from '../../reserve/task.ts';
import { makeModel, setFree } from '../helpers/model.ts';

const MIN = 512;

/** A model, a pool holding `filled` of `minNr` elements, and a task to allocate as. */
async function setup(options: {
  minNr: number;
  filled?: number;
  strategy?: MempoolStrategy;
  start?: boolean;
}) {
  const t = makeModel();
  const { model, sched } = t;
  if (options.start) model.start();
  const pool = new Mempool(model.allocator, sched, {
    minNr: options.minNr,
    ...(options.strategy !== undefined ? { strategy: options.strategy } : {}),
  });
  const task = model.spawnTask('kcryptd');
  const ctx = { exec: 'task', task } as const;
  // mempool_create preallocates with GFP_KERNEL while memory is plentiful.
  const filled = options.filled ?? options.minNr;
  for (let i = 0; i < filled; i++) {
    expect(await model.allocator.alloc({ gfp: GFP.KERNEL, ctx, use: 'kernel' })).toEqual({
      ok: true,
      pfmemalloc: false,
    });
    pool.free();
  }
  expect(pool.curr).toBe(filled);
  return { ...t, pool, task, ctx };
}

/** Starts mempool_alloc and records when and how it settles. */
function startAlloc(
  pool: Mempool,
  ctx: Parameters<Mempool['alloc']>[0],
  gfp: GfpMask,
  now: () => number,
) {
  const state: { result: boolean | undefined; at: number | undefined } = {
    result: undefined,
    at: undefined,
  };
  const promise = pool.alloc(ctx, gfp).then((r) => {
    state.result = r;
    state.at = now();
    return r;
  });
  return { state, promise };
}

describe('mempool_alloc, step 1: the first try masks __GFP_DIRECT_RECLAIM and __GFP_IO', () => {
  it('at the min watermark a GFP_KERNEL caller gets the pool element with no direct reclaim', async () => {
    const { model, sched, pool, ctx } = await setup({ minNr: 1 });
    setFree(model, MIN);
    const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    expect(await a.promise).toBe(true);
    expect(a.state.at).toBe(0);
    expect(model.stats.directReclaimCalls).toBe(0);
    expect(pool.stats).toMatchObject({ fromPool: 1, fromAllocator: 0, waits: 0 });
    expect(pool.curr).toBe(0);
    expect(model.zone.free).toBe(MIN);
    model.checkInvariants();
  });

  it('the allocator sees the reduced mask first, then the full mask (each with NOMEMALLOC|NORETRY|NOWARN)', async () => {
    const { model, sched, pool, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN);
    const masks: string[] = [];
    const tryAlloc = model.allocator.tryAlloc.bind(model.allocator);
    vi.spyOn(model.allocator, 'tryAlloc').mockImplementation((req) => {
      masks.push(describeGfp(req.gfp));
      return tryAlloc(req);
    });
    void startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    await sched.runFor(10);
    const added = gfpOr(__GFP.NOMEMALLOC, __GFP.NORETRY, __GFP.NOWARN);
    const full = gfpOr(GFP.KERNEL, added);
    const reduced = gfpWithout(full, gfpOr(__GFP.DIRECT_RECLAIM, __GFP.IO));
    expect(masks[0]).toBe(describeGfp(reduced));
    expect(masks.length).toBeGreaterThan(1);
    expect(new Set(masks.slice(1))).toEqual(new Set([describeGfp(full)]));
    pool.free();
    await sched.runFor(10);
  });

  it('one page above min the first try succeeds from the allocator and the pool is untouched', async () => {
    const { model, pool, ctx } = await setup({ minNr: 1 });
    setFree(model, MIN + 1);
    expect(await pool.alloc(ctx, GFP.KERNEL)).toBe(true);
    expect(pool.stats).toMatchObject({ fromPool: 0, fromAllocator: 1 });
    expect(pool.curr).toBe(1);
    expect(model.zone.free).toBe(MIN);
    expect(model.stats.directReclaimCalls).toBe(0);
  });

  it('the first try keeps __GFP_KSWAPD_RECLAIM: kswapd is woken though nobody reclaims directly', async () => {
    const { model, pool, ctx } = await setup({ minNr: 1, start: true });
    setFree(model, MIN);
    expect(model.kswapd.sleeping).toBe(true);
    expect(await pool.alloc(ctx, GFP.KERNEL)).toBe(true);
    expect(model.stats.kswapdWakeups).toBe(1);
    expect(model.stats.directReclaimCalls).toBe(0);
    model.stop();
  });
});

describe('mempool_alloc, step 2: __GFP_NOMEMALLOC keeps the backing allocator out of the reserve', () => {
  it('a PF_MEMALLOC task below min gets the pool element, never a pfmemalloc page', async () => {
    const { model, pool, task, ctx } = await setup({ minNr: 2 });
    task.flags |= PF.MEMALLOC;
    setFree(model, 100);
    expect(await pool.alloc(ctx, GFP.NOIO)).toBe(true);
    expect(await pool.alloc(ctx, gfpOr(GFP.NOIO, __GFP.MEMALLOC))).toBe(true);
    expect(pool.stats).toMatchObject({ fromPool: 2, fromAllocator: 0 });
    expect(model.zone.reserveUsed).toBe(0);
    expect(model.stats.pfmemallocAllocs).toBe(0);
    expect(model.zone.free).toBe(100);
    // The same task asking the allocator directly does dip into the reserve.
    const direct = model.allocator.tryAlloc({ gfp: GFP.NOIO, ctx, use: 'kernel' });
    expect(direct).toEqual({ ok: true, pfmemalloc: true });
    expect(model.zone.reserveUsed).toBe(1);
  });

  it('with the pool empty a PF_MEMALLOC task sleeps on pool->wait instead of using the reserve', async () => {
    const { model, sched, pool, task, ctx } = await setup({ minNr: 1, filled: 0 });
    task.flags |= PF.MEMALLOC;
    setFree(model, 100);
    const a = startAlloc(pool, ctx, gfpOr(GFP.KERNEL, __GFP.MEMALLOC), () => sched.now());
    await sched.runFor(1000);
    expect(a.state.result).toBeUndefined();
    expect(task.activity).toBe('D:mempool-wait');
    expect(model.zone.reserveUsed).toBe(0);
    expect(model.stats.pfmemallocAllocs).toBe(0);
    expect(model.zone.free).toBe(100);
    // PF_MEMALLOC never recurses into direct reclaim.
    expect(model.stats.directReclaimCalls).toBe(0);
    pool.free();
    await sched.runFor(1);
    expect(a.state.result).toBe(true);
    expect(model.zone.reserveUsed).toBe(0);
  });
});

describe('mempool_alloc, step 3: a preallocated element when the allocator fails', () => {
  it('takes one element per failed allocation, down to an empty pool', async () => {
    const { model, pool, ctx } = await setup({ minNr: 2 });
    setFree(model, MIN);
    expect(await pool.alloc(ctx, GFP.NOWAIT)).toBe(true);
    expect(pool.curr).toBe(1);
    expect(await pool.alloc(ctx, GFP.NOWAIT)).toBe(true);
    expect(pool.curr).toBe(0);
    expect(await pool.alloc(ctx, GFP.NOWAIT)).toBe(false);
    expect(pool.stats).toMatchObject({ fromPool: 2, fromAllocator: 0, nulls: 1 });
    expect(model.zone.free).toBe(MIN);
  });
});

describe('mempool_alloc, step 4: with the pool empty, one retry with the full mask', () => {
  it('the retry may reclaim directly, and succeeds when reclaim frees clean page cache', async () => {
    const { model, sched, pool, ctx } = await setup({ minNr: 1, filled: 0 });
    const reader = model.spawnTask('reader');
    expect(await model.files.read(reader, 64)).toBe(64);
    setFree(model, MIN);
    const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    await sched.runFor(10);
    expect(a.state.result).toBe(true);
    expect(model.stats.directReclaimCalls).toBe(1);
    expect(model.zone.pages('file_clean')).toBeLessThan(64);
    expect(model.zone.free).toBeGreaterThan(MIN - 1);
    expect(pool.stats).toMatchObject({ fromAllocator: 1, fromPool: 0, waits: 0 });
    model.checkInvariants();
  });

  it('retries exactly once before sleeping: one direct reclaim, then pool->wait', async () => {
    const { model, sched, events, pool, task, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN);
    void startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    await sched.runFor(100);
    expect(model.stats.directReclaimCalls).toBe(1);
    expect(pool.stats.waits).toBe(1);
    expect(pool.wait.waiters).toBe(1);
    expect(task.activity).toBe('D:mempool-wait');
    // Two allocator calls failed (reduced mask, then full mask), both silently (__GFP_NOWARN).
    expect(model.stats.allocFailures).toBe(2);
    expect(events.filter((e) => e.type === 'alloc-failure')).toEqual([]);
    pool.free();
    await sched.runFor(10);
  });
});

describe('mempool strategy no-reclaim (seed 000: never direct reclaim, wait on the pool)', () => {
  it('with the pool empty it sleeps on pool->wait without one direct reclaim, and wakes with the freed element', async () => {
    const { model, sched, pool, task, ctx } = await setup({
      minNr: 1,
      filled: 0,
      strategy: 'no-reclaim',
    });
    setFree(model, MIN);
    const a = startAlloc(pool, ctx, GFP.NOIO, () => sched.now());
    await sched.runFor(100);
    expect(model.stats.directReclaimCalls).toBe(0);
    expect(pool.stats.waits).toBe(1);
    expect(task.activity).toBe('D:mempool-wait');
    pool.free();
    await sched.runFor(10);
    expect(a.state.result).toBe(true);
    expect(model.stats.directReclaimCalls).toBe(0);
  });
});

describe('mempool_alloc, step 5: a caller that cannot block gets NULL', () => {
  it('GFP_NOWAIT with an empty pool gets false at once, at min (and a page at min+1)', async () => {
    const { model, sched, pool, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN);
    expect(await pool.alloc(ctx, GFP.NOWAIT)).toBe(false);
    expect(sched.now()).toBe(0);
    expect(pool.stats).toMatchObject({ nulls: 1, waits: 0 });
    expect(pool.wait.waiters).toBe(0);
    expect(model.stats.directReclaimCalls).toBe(0);
    setFree(model, MIN + 1);
    expect(await pool.alloc(ctx, GFP.NOWAIT)).toBe(true);
    expect(model.zone.free).toBe(MIN);
  });

  it('GFP_ATOMIC gets false at min/2: __GFP_NOMEMALLOC takes away the non-blocking 3/8', async () => {
    const { model, pool, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN / 2 + 1);
    expect(await pool.alloc({ ...ctx, exec: 'softirq' }, GFP.ATOMIC)).toBe(true);
    expect(model.zone.free).toBe(MIN / 2);
    expect(await pool.alloc({ ...ctx, exec: 'softirq' }, GFP.ATOMIC)).toBe(false);
    expect(model.zone.free).toBe(MIN / 2);
    expect(model.zone.reserveUsed).toBe(0);
    expect(pool.stats).toMatchObject({ fromAllocator: 1, nulls: 1 });
  });
});

describe('mempool_alloc, step 6: a blocking caller sleeps on pool->wait for 5*HZ and never fails', () => {
  it('the sleep times out after exactly 5000 ms, then the allocator is retried with the full mask', async () => {
    expect(MEMPOOL_WAIT_MS).toBe(5000);
    const { model, sched, pool, task, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN);
    const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    await sched.runFor(1);
    expect(task.activity).toBe('D:mempool-wait');
    const slept = task.activitySince;
    expect(slept).toBe(1);
    // Memory comes back without anyone calling mempool_free: nothing wakes pool->wait.
    await sched.runUntil(3000);
    setFree(model, 600);
    await sched.runUntil(slept + 4999);
    expect(a.state.result).toBeUndefined();
    await sched.runUntil(slept + 5000);
    expect(a.state).toEqual({ result: true, at: slept + 5000 });
    expect(pool.stats).toMatchObject({ waits: 1, waitTimeouts: 1, fromAllocator: 1, fromPool: 0 });
    expect(model.zone.free).toBe(599);
    expect(task.activity).toBe('running');
  });

  it('mempool_free wakes the sleeper early; it retries the allocator (full mask) before taking the element', async () => {
    const { model, sched, pool, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN);
    const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    await sched.runUntil(2000);
    expect(model.stats.directReclaimCalls).toBe(1);
    pool.free();
    expect(pool.curr).toBe(1);
    await sched.runFor(10);
    // One more direct reclaim round (one jiffy without progress), then the element.
    expect(a.state).toEqual({ result: true, at: 2001 });
    expect(model.stats.directReclaimCalls).toBe(2);
    expect(pool.stats).toMatchObject({ waits: 1, waitTimeouts: 0, fromPool: 1 });
    expect(pool.curr).toBe(0);
  });

  it('never fails: with no memory for a minute it keeps sleeping 5000 ms at a time', async () => {
    const { model, sched, pool, task, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, 0);
    const a = startAlloc(pool, ctx, GFP.NOIO, () => sched.now());
    await sched.runUntil(60_000);
    expect(a.state.result).toBeUndefined();
    expect(task.activity).toBe('D:mempool-wait');
    // Each round: 5000 ms asleep plus one jiffy of fruitless direct reclaim.
    expect(pool.stats).toMatchObject({ waits: 12, waitTimeouts: 11, nulls: 0 });
    expect(model.stats.directReclaimCalls).toBe(12);
    pool.free();
    await sched.runFor(10);
    expect(a.state.result).toBe(true);
  });
});

describe('mempool_free', () => {
  it('refills the pool while it holds fewer than min_nr; free pages do not change', async () => {
    const { model, pool } = await setup({ minNr: 2, filled: 0 });
    setFree(model, 1000);
    pool.free();
    expect(pool.curr).toBe(1);
    pool.free();
    expect(pool.curr).toBe(2);
    expect(model.zone.free).toBe(1000);
    model.checkInvariants();
  });

  it('at min_nr gives the page back to the allocator: free pages go up by one', async () => {
    const { model, pool } = await setup({ minNr: 2 });
    setFree(model, 1000);
    pool.free();
    expect(pool.curr).toBe(2);
    expect(model.zone.free).toBe(1001);
    model.checkInvariants();
  });

  it('wakes every sleeper on pool->wait when it refills the pool', async () => {
    const { model, sched, pool, ctx } = await setup({ minNr: 1, filled: 0 });
    setFree(model, MIN);
    const other = { exec: 'task', task: model.spawnTask('kcryptd/1') } as const;
    const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
    const b = startAlloc(pool, other, GFP.KERNEL, () => sched.now());
    await sched.runUntil(100);
    expect(pool.wait.waiters).toBe(2);
    pool.free();
    expect(pool.wait.waiters).toBe(0);
    await sched.runFor(10);
    // Both woke; one got the element, the other went back to sleep.
    expect([a.state.result, b.state.result].filter((r) => r === true)).toHaveLength(1);
    expect(pool.wait.waiters).toBe(1);
    expect(pool.stats.waits).toBe(3);
    pool.free();
    await sched.runFor(10);
    expect(a.state.result).toBe(true);
    expect(b.state.result).toBe(true);
  });
});

describe('mempool strategies (seed 000)', () => {
  it("'kernel' prefers the allocator when it can answer without reclaim", async () => {
    const { model, pool, ctx } = await setup({ minNr: 1, strategy: 'kernel' });
    setFree(model, 10_000);
    expect(await pool.alloc(ctx, GFP.KERNEL)).toBe(true);
    expect(pool.stats).toMatchObject({ fromAllocator: 1, fromPool: 0 });
    expect(pool.curr).toBe(1);
    expect(model.zone.free).toBe(9999);
  });

  it("'pool-first' takes the element even when the allocator could answer", async () => {
    const { model, pool, ctx } = await setup({ minNr: 1, strategy: 'pool-first' });
    setFree(model, 10_000);
    expect(await pool.alloc(ctx, GFP.KERNEL)).toBe(true);
    expect(pool.stats).toMatchObject({ fromAllocator: 0, fromPool: 1 });
    expect(pool.curr).toBe(0);
    expect(model.zone.free).toBe(10_000);
    // Once empty it falls back to the kernel's order: the allocator.
    expect(await pool.alloc(ctx, GFP.KERNEL)).toBe(true);
    expect(pool.stats.fromAllocator).toBe(1);
  });

  it("'allocator-reclaim' reclaims directly before it takes the element; 'kernel' does not", async () => {
    const results: Record<string, { at: number | undefined; reclaims: number }> = {};
    for (const strategy of ['kernel', 'allocator-reclaim'] as const) {
      const { model, sched, pool, ctx } = await setup({ minNr: 1, strategy });
      setFree(model, MIN);
      const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
      await sched.runFor(10);
      expect(a.state.result).toBe(true);
      expect(pool.stats.fromPool).toBe(1);
      results[strategy] = { at: a.state.at, reclaims: model.stats.directReclaimCalls };
    }
    expect(results).toEqual({
      kernel: { at: 0, reclaims: 0 },
      'allocator-reclaim': { at: 1, reclaims: 1 },
    });
  });

  it("a woken 'pool-first' sleeper takes the returned element at once, without direct reclaim", async () => {
    const results: Record<string, { at: number | undefined; reclaims: number }> = {};
    for (const strategy of ['kernel', 'pool-first'] as const) {
      const { model, sched, pool, ctx } = await setup({ minNr: 1, filled: 0, strategy });
      setFree(model, MIN);
      const a = startAlloc(pool, ctx, GFP.KERNEL, () => sched.now());
      await sched.runUntil(2000);
      const before = model.stats.directReclaimCalls;
      pool.free();
      await sched.runFor(10);
      expect(a.state.result).toBe(true);
      results[strategy] = { at: a.state.at, reclaims: model.stats.directReclaimCalls - before };
    }
    expect(results).toEqual({
      kernel: { at: 2001, reclaims: 1 },
      'pool-first': { at: 2000, reclaims: 0 },
    });
  });
});
