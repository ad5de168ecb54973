// __GFP_NOFAIL and the OOM killer (kernel-reference.md sections 1 and 6, seed 003: "We
// expect an OOM event, but it never occurs"). 256 MiB machine: min 512, low 640, high
// 768. Every test runs in virtual time; nothing here is random.
import { describe, expect, it } from 'vitest';
import { ALLOC, gfpPfmemallocFlags } from '../../reserve/alloc-flags.ts';
import { __GFP, GFP, describeGfp, gfpOr, type GfpMask } from '../../reserve/gfp.ts';
import type { MemoryModel } from '../../reserve/memory-model.ts';
import type { AllocRequest, AllocResult, OomOutcome } from '../../reserve/page-allocator.ts';
import { PF, type Task } from '../../reserve/task.ts';
import { MAX_RECLAIM_RETRIES } from '../../reserve/units.ts';
import { makeModel, setFree, type TestModel } from '../helpers/model.ts';

const MIN = 512;
/** Swap size for the OOM stages: small, so that filling it is cheap. */
const SWAP = 64;
/** should_reclaim_retry retries 16 times without progress: 17 reclaim rounds, then OOM. */
const ROUNDS_BEFORE_OOM = MAX_RECLAIM_RETRIES + 1;

interface PendingAlloc {
  readonly promise: Promise<AllocResult>;
  /** Set when the allocation returns. */
  result?: AllocResult;
  /** Model time of the return. */
  at?: number;
}

/** Starts a (possibly sleeping) allocation in task context; the test then advances time. */
function startAlloc(model: MemoryModel, task: Task, gfp: GfpMask, order = 0): PendingAlloc {
  const req: AllocRequest = { gfp, order, ctx: { exec: 'task', task }, use: 'kernel' };
  const pending: { promise: Promise<AllocResult>; result?: AllocResult; at?: number } = {
    promise: model.allocator.alloc(req).then((r) => {
      pending.result = r;
      pending.at = model.scheduler.now();
      return r;
    }),
  };
  return pending;
}

/** Maps `n` pages for `task` and faults every one in (memory is plentiful at this point). */
async function faultIn(model: MemoryModel, task: Task, n: number): Promise<void> {
  const region = model.anon.map(task, n);
  for (let i = 0; i < n; i++) expect(await model.anon.fault(task, region.base + i)).toBe('ok');
}

/** Writes the `n` oldest resident anon pages to swap and lets the writes complete. */
async function writeOut(t: TestModel, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const page = t.model.anon.isolateVictim(null);
    expect(page).toBeGreaterThanOrEqual(0);
    expect(await t.model.anon.startWriteout(page, t.model.kworker)).toBe(true);
  }
  await t.sched.runFor(10);
  expect(t.model.zone.pages('writeback')).toBe(0);
  // The written pages wait, clean, at the reclaim end of the LRU: a scan frees them.
  while (t.model.anon.cleanPages > 0) t.model.anon.freeClean(t.model.anon.isolateVictim(null));
}

interface OomCall {
  readonly at: number;
  /** try_to_free_pages calls made before this out_of_memory call. */
  readonly reclaimRounds: number;
  /** Pages handed out under ALLOC_NO_WATERMARKS before this call. */
  readonly reserveTaken: number;
  readonly outcome: OomOutcome;
}

/** Records every out_of_memory() call with the state it was made in. */
function traceOom(model: MemoryModel): OomCall[] {
  const calls: OomCall[] = [];
  const oom = model.oom;
  const decide = oom.outOfMemory.bind(oom);
  oom.outOfMemory = (gfp, order, current, memcg) => {
    const at = model.scheduler.now();
    const reclaimRounds = model.stats.directReclaimCalls;
    const reserveTaken = model.stats.pfmemallocAllocs;
    const outcome = decide(gfp, order, current, memcg);
    calls.push({ at, reclaimRounds, reserveTaken, outcome });
    return outcome;
  };
  return calls;
}

/**
 * A machine where reclaim cannot make progress: swap is full (a protected task's pages
 * fill it, so no anon page can be written out) and, if `dirty` > 0, the page cache holds
 * dirty pages that reclaim never frees but that should_reclaim_retry counts as
 * reclaimable (zone_reclaimable_pages), so it retries 16 times before the OOM decision.
 */
async function stuckReclaim(dirty: number): Promise<TestModel> {
  const t = makeModel({ swapPages: SWAP });
  const { model } = t;
  const swapped = model.spawnTask('swapped', { oomScoreAdj: -1000 });
  await faultIn(model, swapped, SWAP);
  await writeOut(t, SWAP);
  expect(model.slots.available).toBe(0);
  if (dirty > 0) {
    const writer = model.spawnTask('writer', { oomScoreAdj: -1000 });
    expect(await model.files.read(writer, dirty)).toBe(dirty);
    expect(model.files.dirty(dirty)).toBe(dirty);
  }
  return t;
}

const DIRTY = 1000;

describe('__GFP_NOFAIL that may block never returns a failure', () => {
  it('GFP_KERNEL|__GFP_NOFAIL with nothing reclaimable: the OOM killer picks the allocating task itself, which as a victim loops in nopage (nofailRetries, D:nofail-retry) and succeeds once memory is freed', async () => {
    const { model, sched } = makeModel();
    const task = model.spawnTask('xfs-worker');
    setFree(model, 0);
    const a = startAlloc(model, task, gfpOr(GFP.KERNEL, __GFP.NOFAIL));
    expect(await sched.runUntilTrue(() => task.activity === 'D:nofail-retry', 100)).toBe(true);
    await sched.runFor(1000);
    expect(a.result).toBeUndefined();
    expect(task.oomVictim).toBe(true);
    expect(model.stats.oomKills).toBe(1);
    expect(model.stats.nofailRetries).toBeGreaterThan(100);
    expect(model.stats.allocFailures).toBe(0);
    const retries = model.stats.nofailRetries;
    await sched.runFor(100);
    expect(model.stats.nofailRetries).toBeGreaterThan(retries);
    setFree(model, 600);
    await sched.runFor(10);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.stats.allocFailures).toBe(0);
  });

  it('a NOFAIL request that reaches nopage (reclaim failed, OOM not allowed) keeps retrying in D:nofail-retry with nofailRetries growing', async () => {
    const { model, sched } = makeModel();
    const task = model.spawnTask('t');
    setFree(model, 100);
    const a = startAlloc(model, task, gfpOr(GFP.KERNEL, __GFP.RETRY_MAYFAIL, __GFP.NOFAIL));
    expect(await sched.runUntilTrue(() => task.activity === 'D:nofail-retry', 10)).toBe(true);
    await sched.runFor(1000);
    expect(a.result).toBeUndefined();
    expect(model.stats.nofailRetries).toBeGreaterThan(100);
    expect(model.stats.allocFailures).toBe(0);
    setFree(model, MIN + 1);
    await sched.runFor(10);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
  });
});

describe("NOFAIL's final fallback in nopage (ALLOC_MIN_RESERVE) goes down to min/2", () => {
  const NOFAIL_NO_OOM = gfpOr(GFP.KERNEL, __GFP.RETRY_MAYFAIL, __GFP.NOFAIL);

  it('succeeds with 257 free pages (min 512) when reclaim and OOM cannot help, without touching the reserve', async () => {
    const { model, sched } = makeModel();
    const oom = traceOom(model);
    const task = model.spawnTask('t');
    setFree(model, 257);
    const a = startAlloc(model, task, NOFAIL_NO_OOM);
    await sched.runFor(10);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.zone.free).toBe(256);
    expect(model.stats.nofailRetries).toBe(0);
    expect(model.stats.pfmemallocAllocs).toBe(0);
    expect(oom).toEqual([]);
  });

  it('fails at 256 free pages: it loops until a page frees, then the fallback takes it', async () => {
    const { model, sched } = makeModel();
    const task = model.spawnTask('t');
    setFree(model, 256);
    const a = startAlloc(model, task, NOFAIL_NO_OOM);
    await sched.runFor(500);
    expect(a.result).toBeUndefined();
    expect(model.zone.free).toBe(256);
    expect(model.stats.nofailRetries).toBeGreaterThan(50);
    setFree(model, 257);
    await sched.runFor(10);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.zone.free).toBe(256);
    expect(model.stats.pfmemallocAllocs).toBe(0);
  });

  it('a costly order-4 NOFAIL request skips the OOM killer and uses the same fallback: 272 free pages suffice (272 - 15 > 256), 271 do not', async () => {
    const gfp = gfpOr(GFP.KERNEL, __GFP.NOFAIL);
    const at = async (free: number) => {
      const { model, sched } = makeModel();
      const oom = traceOom(model);
      setFree(model, free);
      const a = startAlloc(model, model.spawnTask('t'), gfp, 4);
      await sched.runFor(200);
      return { a, model, oom };
    };
    const enough = await at(272);
    expect(enough.a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(enough.model.zone.free).toBe(256);
    expect(enough.oom).toEqual([]);
    const short = await at(271);
    expect(short.a.result).toBeUndefined();
    expect(short.model.stats.nofailRetries).toBeGreaterThan(10);
    expect(short.oom).toEqual([]);
  });
});

describe('NOFAIL gets ALLOC_NO_WATERMARKS only after an OOM attempt (out_of_memory reached)', () => {
  it('GFP_KERNEL|__GFP_NOFAIL: 17 reclaim rounds leave the reserve untouched, then the OOM kill, then one pfmemalloc page even though the victim freed plenty', async () => {
    const { model, sched, events } = await stuckReclaim(DIRTY);
    const oom = traceOom(model);
    const hog = model.spawnTask('hog');
    await faultIn(model, hog, 1000);
    const task = model.spawnTask('xfs-worker', { oomScoreAdj: -1000 });
    // 300 free pages: more than min/2, so the nopage fallback could serve it, but plain
    // NOFAIL never gets there: the OOM attempt comes first and opens the reserve.
    setFree(model, 300);
    const a = startAlloc(model, task, gfpOr(GFP.KERNEL, __GFP.NOFAIL));
    await sched.runFor(100);
    expect(oom).toEqual([
      expect.objectContaining({
        reclaimRounds: ROUNDS_BEFORE_OOM,
        reserveTaken: 0,
        outcome: 'killed',
      }),
    ]);
    expect(events.filter((e) => e.type === 'oom-kill')).toEqual([
      expect.objectContaining({ victim: 'hog' }),
    ]);
    expect(a.result).toEqual({ ok: true, pfmemalloc: true });
    expect(model.stats.pfmemallocAllocs).toBe(1);
    expect(model.zone.reserveUsed).toBe(1);
    expect(model.stats.nofailRetries).toBe(0);
  });

  it('GFP_NOFS|__GFP_NOFAIL (the XFS case): out_of_memory kills nothing, returns progress, then the reserve', async () => {
    const { model, sched } = await stuckReclaim(DIRTY);
    const oom = traceOom(model);
    const hog = model.spawnTask('hog');
    await faultIn(model, hog, 1000);
    const task = model.spawnTask('xfs-worker');
    setFree(model, 300);
    const a = startAlloc(model, task, gfpOr(GFP.NOFS, __GFP.NOFAIL));
    await sched.runFor(100);
    expect(oom).toEqual([
      expect.objectContaining({
        reclaimRounds: ROUNDS_BEFORE_OOM,
        reserveTaken: 0,
        outcome: 'no-kill-nofs',
      }),
    ]);
    expect(a.result).toEqual({ ok: true, pfmemalloc: true });
    expect(model.stats.oomKills).toBe(0);
    expect(hog.killed).toBe(false);
  });
});

describe('__GFP_NOFAIL that cannot block is unsupported', () => {
  it("GFP_ATOMIC|__GFP_NOFAIL below GFP_ATOMIC's floor (3/8 of min = 192) fails with 'nofail-cannot-block' and a 'nofail-unsupported' event, without reclaim or retry", async () => {
    const { model, sched, events } = makeModel();
    const task = model.spawnTask('irq');
    const gfp = gfpOr(GFP.ATOMIC, __GFP.NOFAIL);
    setFree(model, 192);
    const req: AllocRequest = { gfp, ctx: { exec: 'softirq', task }, use: 'skb' };
    expect(model.allocator.tryAlloc(req)).toEqual({ ok: false, reason: 'nofail-cannot-block' });
    expect(await model.allocator.alloc({ ...req, ctx: { exec: 'task', task } })).toEqual({
      ok: false,
      reason: 'nofail-cannot-block',
    });
    expect(sched.now()).toBe(0);
    expect(events.filter((e) => e.type === 'nofail-unsupported')).toEqual([
      { type: 'nofail-unsupported', at: 0, gfp: describeGfp(gfp), task: 'irq' },
      { type: 'nofail-unsupported', at: 0, gfp: describeGfp(gfp), task: 'irq' },
    ]);
    expect(model.stats.directReclaimCalls).toBe(0);
    expect(model.stats.allocRetries).toBe(0);
    expect(model.stats.nofailRetries).toBe(0);
    expect(model.zone.free).toBe(192);
    // NOFAIL does not move the floor: one page more and it is an ordinary success.
    setFree(model, 193);
    expect(model.allocator.tryAlloc(req)).toEqual({ ok: true, pfmemalloc: false });
  });

  it("GFP_NOWAIT|__GFP_NOFAIL at min fails with 'nofail-cannot-block'; GFP_NOWAIT carries __GFP_NOWARN, so WARN_ON_ONCE_GFP stays silent (no 'nofail-unsupported' event)", () => {
    const { model, events } = makeModel();
    const task = model.spawnTask('t');
    setFree(model, MIN);
    const req: AllocRequest = {
      gfp: gfpOr(GFP.NOWAIT, __GFP.NOFAIL),
      ctx: { exec: 'task', task },
      use: 'kernel',
    };
    expect(model.allocator.tryAlloc(req)).toEqual({ ok: false, reason: 'nofail-cannot-block' });
    expect(model.stats.directReclaimCalls).toBe(0);
    expect(events.filter((e) => e.type === 'nofail-unsupported')).toEqual([]);
  });

  it("a non-blocking NOFAIL mask without __GFP_NOWARN (__GFP_KSWAPD_RECLAIM|__GFP_NOFAIL) fails and warns: one 'nofail-unsupported' event", () => {
    const { model, events } = makeModel();
    const task = model.spawnTask('t');
    setFree(model, MIN);
    const gfp = gfpOr(__GFP.KSWAPD_RECLAIM, __GFP.NOFAIL);
    const req: AllocRequest = { gfp, ctx: { exec: 'task', task }, use: 'kernel' };
    expect(model.allocator.tryAlloc(req)).toEqual({ ok: false, reason: 'nofail-cannot-block' });
    expect(events.filter((e) => e.type === 'nofail-unsupported')).toEqual([
      { type: 'nofail-unsupported', at: 0, gfp: describeGfp(gfp), task: 't' },
    ]);
  });
});

describe('when the OOM killer is invoked (__alloc_pages_may_oom, should_reclaim_retry)', () => {
  /** The stuck machine plus a 1000-page killable hog; `free` pages free. */
  async function withHog(free: number, dirty = DIRTY) {
    const t = await stuckReclaim(dirty);
    const hog = t.model.spawnTask('hog');
    await faultIn(t.model, hog, 1000);
    const oom = traceOom(t.model);
    setFree(t.model, free);
    return { ...t, hog, oom };
  }

  it('GFP_KERNEL: 16 retries without progress (17 reclaim rounds), then the OOM kill; the reaped victim frees its pages and the allocation succeeds', async () => {
    const { model, sched, events, hog, oom } = await withHog(300);
    const task = model.spawnTask('svc');
    const a = startAlloc(model, task, GFP.KERNEL);
    await sched.runUntilTrue(() => model.stats.directReclaimCalls === ROUNDS_BEFORE_OOM, 1000);
    expect(model.stats.oomKills).toBe(0);
    await sched.runFor(50);
    expect(oom).toEqual([
      expect.objectContaining({ reclaimRounds: ROUNDS_BEFORE_OOM, outcome: 'killed' }),
    ]);
    expect(model.stats.oomKills).toBe(1);
    expect(events.filter((e) => e.type === 'oom-kill')).toEqual([
      expect.objectContaining({ victim: 'hog', points: 1000 }),
    ]);
    expect(hog.killed && hog.oomVictim).toBe(true);
    expect(hog.rssPages).toBe(0);
    expect(model.zone.pages('anon')).toBe(0);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.zone.free).toBe(300 + 1000 - 1);
    expect(model.stats.directReclaimCalls).toBe(ROUNDS_BEFORE_OOM);
    model.checkInvariants();
  });

  it('should_reclaim_retry counts anon pages only while swap has room: with swap full and no page cache the OOM decision comes after the first reclaim round', async () => {
    const { model, sched, oom } = await withHog(300, 0);
    const a = startAlloc(model, model.spawnTask('svc'), GFP.KERNEL);
    await sched.runFor(100);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(oom).toEqual([expect.objectContaining({ reclaimRounds: 1, outcome: 'killed' })]);
  });

  it('order 3 (PAGE_ALLOC_COSTLY_ORDER) may still OOM-kill; order 4 gives up after one reclaim round without OOM', async () => {
    const three = await withHog(300);
    const a3 = startAlloc(three.model, three.model.spawnTask('svc'), GFP.KERNEL, 3);
    await three.sched.runFor(100);
    expect(a3.result).toEqual({ ok: true, pfmemalloc: false });
    expect(three.model.stats.oomKills).toBe(1);

    const four = await withHog(300);
    const a4 = startAlloc(four.model, four.model.spawnTask('svc'), GFP.KERNEL, 4);
    await four.sched.runFor(100);
    expect(a4.result).toEqual({ ok: false, reason: 'costly' });
    expect(four.model.stats.directReclaimCalls).toBe(1);
    expect(four.oom).toEqual([]);
    expect(four.hog.killed).toBe(false);
  });

  it('order 4 with __GFP_RETRY_MAYFAIL retries 16 times and still never calls the OOM killer', async () => {
    const { model, sched, hog, oom } = await withHog(300);
    const a = startAlloc(model, model.spawnTask('svc'), gfpOr(GFP.KERNEL, __GFP.RETRY_MAYFAIL), 4);
    await sched.runFor(100);
    expect(a.result).toEqual({ ok: false, reason: 'oom' });
    expect(model.stats.directReclaimCalls).toBe(ROUNDS_BEFORE_OOM);
    expect(oom).toEqual([]);
    expect(hog.killed).toBe(false);
  });

  it.each<[string, GfpMask]>([
    ['__GFP_RETRY_MAYFAIL', __GFP.RETRY_MAYFAIL],
    ['__GFP_THISNODE', __GFP.THISNODE],
  ])(
    'GFP_KERNEL|%s: after 17 reclaim rounds it fails instead of OOM-killing',
    async (_name, flag) => {
      const { model, sched, hog, oom } = await withHog(300);
      const a = startAlloc(model, model.spawnTask('svc'), gfpOr(GFP.KERNEL, flag));
      await sched.runFor(100);
      expect(a.result).toEqual({ ok: false, reason: 'oom' });
      expect(model.stats.directReclaimCalls).toBe(ROUNDS_BEFORE_OOM);
      expect(oom).toEqual([]);
      expect(model.stats.oomKills).toBe(0);
      expect(hog.killed).toBe(false);
    },
  );

  it.each<[string, GfpMask]>([
    ['GFP_NOFS', GFP.NOFS],
    ['GFP_NOIO', GFP.NOIO],
  ])(
    '%s: out_of_memory returns progress without killing, so the caller loops: a livelock with zero OOM kills',
    async (_name, gfp) => {
      const { model, sched, events, hog, oom } = await withHog(300);
      const a = startAlloc(model, model.spawnTask('svc'), gfp);
      await sched.runFor(5000);
      expect(a.result).toBeUndefined();
      expect(model.stats.oomSkippedNoFs).toBeGreaterThan(100);
      expect(oom.length).toBe(model.stats.oomSkippedNoFs);
      expect(oom.every((c) => c.outcome === 'no-kill-nofs')).toBe(true);
      expect(oom[0]?.reclaimRounds).toBe(ROUNDS_BEFORE_OOM);
      // Every OOM attempt resets the no-progress count: another 17 rounds before the next.
      expect(oom[1]?.reclaimRounds).toBe(2 * ROUNDS_BEFORE_OOM);
      expect(model.stats.oomKills).toBe(0);
      expect(events.some((e) => e.type === 'oom-kill')).toBe(false);
      expect(hog.killed).toBe(false);
      expect(hog.rssPages).toBe(1000);
      expect(model.stats.allocFailures).toBe(0);
      // The livelock ends only when memory comes back from elsewhere.
      setFree(model, MIN + 1);
      await sched.runFor(10);
      expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    },
  );

  it('a task with a fatal signal pending gets the OOM reserves even for GFP_NOFS: task_will_free_mem(current) comes before the __GFP_FS rule', async () => {
    const { model, sched, hog, oom } = await withHog(300);
    const task = model.spawnTask('exiting');
    task.killed = true; // SIGKILL from user space, not from the OOM killer
    const a = startAlloc(model, task, GFP.NOFS);
    await sched.runFor(100);
    expect(oom.map((c) => c.outcome)).toEqual(['current-dying']);
    expect(task.oomVictim).toBe(true);
    expect(model.stats.oomSkippedNoFs).toBe(0);
    // As a victim it may go down to min/2: 300 free pages are enough.
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(hog.killed).toBe(false);
  });
});

describe('whom the OOM killer picks (oom_badness) and what the victim gets', () => {
  it('with no killable task a global OOM is the panic "System is deadlocked on memory"; a memcg OOM is not', () => {
    const { model, events } = makeModel();
    const protectedTask = model.spawnTask('protected', { oomScoreAdj: -1000 });
    expect(model.oom.outOfMemory(GFP.KERNEL, 0, protectedTask, null)).toBe('no-victim');
    expect(model.stats.oomPanics).toBe(1);
    expect(events.filter((e) => e.type === 'oom-panic')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/System is deadlocked on memory/) }),
    ]);
    const cg = model.createMemcg({ name: 'empty', highPages: Infinity, maxPages: 10 });
    expect(model.oom.outOfMemory(GFP.KERNEL, 0, protectedTask, cg)).toBe('no-victim');
    expect(model.stats.oomPanics).toBe(1);
    // A request without __GFP_FS never gets that far: no kill, no panic.
    expect(model.oom.outOfMemory(GFP.NOFS, 0, protectedTask, null)).toBe('no-kill-nofs');
    expect(model.stats.oomPanics).toBe(1);
  });

  it('the highest rss + swap entries + oom_score_adj * (totalpages / 1000) wins; kernel threads and oom_score_adj -1000 tasks are never picked', async () => {
    const t = makeModel({ swapPages: SWAP });
    const { model, sched, events } = t;
    // totalpages = RAM + swap = 65600; totalpages / 1000 = 65 (integer division first).
    const unit = Math.floor((model.zone.managedPages + model.slots.capacity) / 1000);
    expect(unit).toBe(65);
    // 'swapper' fills swap with 64 of its pages: 600 resident + 64 swap entries = 664.
    const swapper = model.spawnTask('swapper');
    await faultIn(model, swapper, 664);
    await writeOut(t, SWAP);
    expect([swapper.rssPages, swapper.swapEntries]).toEqual([600, 64]);
    // 663 resident pages: one point short.
    const resident = model.spawnTask('resident');
    await faultIn(model, resident, 663);
    // 10 pages, oom_score_adj 10: 10 + 10 * 65 = 660 (10 * 65600 / 1000 would be 666).
    const adjusted = model.spawnTask('adjusted', { oomScoreAdj: 10 });
    await faultIn(model, adjusted, 10);
    const protectedTask = model.spawnTask('protected', { oomScoreAdj: -1000 });
    await faultIn(model, protectedTask, 2000);
    const kthread = model.tasks.spawn('kthread-with-memory', { flags: PF.KTHREAD });
    await faultIn(model, kthread, 1500);
    expect(model.oom.badness(adjusted, model.zone.managedPages + model.slots.capacity)).toBe(
      10 + 10 * unit,
    );
    expect(model.oom.badness(protectedTask, 65600)).toBeNull();
    expect(model.oom.badness(kthread, 65600)).toBeNull();

    const writer = model.spawnTask('writer', { oomScoreAdj: -1000 });
    await model.files.read(writer, DIRTY);
    model.files.dirty(DIRTY);
    setFree(model, 300);
    const a = startAlloc(model, model.spawnTask('svc'), GFP.KERNEL);
    await sched.runFor(100);
    expect(events.filter((e) => e.type === 'oom-kill')).toEqual([
      expect.objectContaining({ victim: 'swapper', points: 664 }),
    ]);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect([resident.killed, adjusted.killed, protectedTask.killed, kthread.killed]).toEqual([
      false,
      false,
      false,
      false,
    ]);
    // Reaped at once: resident pages freed, swap slots released.
    expect([swapper.rssPages, swapper.swapEntries]).toEqual([0, 0]);
    expect(model.slots.available).toBe(SWAP);
    model.checkInvariants();
  });

  it("the victim gets ALLOC_OOM: its GFP_KERNEL allocation succeeds down to min/2 (257 free) and fails at 256 with 'oom-victim', never touching ALLOC_NO_WATERMARKS", async () => {
    const t = await stuckReclaim(DIRTY);
    const { model, sched } = t;
    const hog = model.spawnTask('hog');
    await faultIn(model, hog, 1000);
    setFree(model, 300);
    const trigger = startAlloc(model, model.spawnTask('svc'), GFP.KERNEL);
    await sched.runFor(100);
    expect(trigger.result?.ok).toBe(true);
    expect(hog.oomVictim).toBe(true);

    setFree(model, 257);
    const req: AllocRequest = { gfp: GFP.KERNEL, ctx: { exec: 'task', task: hog }, use: 'kernel' };
    expect(model.allocator.tryAlloc(req)).toEqual({ ok: true, pfmemalloc: false });
    expect(model.zone.free).toBe(256);
    // A task that is not a victim gets nothing below min without reclaim.
    expect(
      model.allocator.tryAlloc({ ...req, ctx: { exec: 'task', task: model.spawnTask('other') } }),
    ).toBeUndefined();

    const reclaimBefore = model.stats.directReclaimCalls;
    const a = startAlloc(model, hog, GFP.KERNEL);
    await sched.runFor(100);
    expect(a.result).toEqual({ ok: false, reason: 'oom-victim' });
    expect(model.stats.directReclaimCalls - reclaimBefore).toBe(ROUNDS_BEFORE_OOM);
    expect(model.stats.oomKills).toBe(1);
    expect(model.stats.pfmemallocAllocs).toBe(0);
    expect(model.zone.free).toBe(256);
  });
});

describe('a reclaimer stuck on a full swap queue never reaches the OOM decision', () => {
  it('device partitioned, queue depth 4: 30 s pass in D:swap-queue with zero OOM kills and writeback pending; after heal() the allocation completes', async () => {
    const { model, sched, device } = makeModel({}, { queueDepth: 4 });
    const hog = model.spawnTask('hog');
    await faultIn(model, hog, 1000);
    const oom = traceOom(model);
    model.start();
    device.partition();
    setFree(model, 300);
    const svc = model.spawnTask('svc');
    const t0 = sched.now();
    const a = startAlloc(model, svc, GFP.KERNEL);
    await sched.runFor(30_000);
    expect(svc.activity).toBe('D:swap-queue');
    expect(svc.activitySince).toBe(t0);
    expect(model.kswapd.task.activity).toBe('D:swap-queue');
    expect(a.result).toBeUndefined();
    expect(oom).toEqual([]);
    expect(model.stats.oomKills).toBe(0);
    expect(device.inFlight).toBe(4);
    expect(model.zone.pages('writeback')).toBeGreaterThanOrEqual(4);
    expect(model.stats.writeoutCompleted).toBe(0);
    expect(model.stats.directReclaimCalls).toBe(1);

    device.heal();
    expect(await sched.runUntilTrue(() => a.result !== undefined, 5000)).toBe(true);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.stats.writeoutCompleted).toBeGreaterThan(0);
    expect(oom).toEqual([]);
    expect(hog.killed).toBe(false);
    model.stop();
    model.checkInvariants();
  });
});

describe('OOM detection before 4.7 (zone_reclaimable, should_alloc_retry)', () => {
  async function stuck(oomDetection: 'retries' | 'zone-reclaimable') {
    const t = makeModel({ swapPages: SWAP, oomDetection, reclaimThrottle: 'congestion_wait' });
    const { model } = t;
    const swapped = model.spawnTask('swapped', { oomScoreAdj: -1000 });
    await faultIn(model, swapped, SWAP);
    await writeOut(t, SWAP);
    const writer = model.spawnTask('writer', { oomScoreAdj: -1000 });
    await model.files.read(writer, DIRTY);
    model.files.dirty(DIRTY);
    const hog = model.spawnTask('hog');
    await faultIn(model, hog, 1000);
    setFree(model, 300);
    return { ...t, oom: traceOom(model), hog };
  }

  it('4.7+: 17 reclaim rounds without progress, then the OOM kill', async () => {
    const { model, sched, oom } = await stuck('retries');
    startAlloc(model, model.spawnTask('svc'), GFP.KERNEL);
    await sched.runFor(1000);
    expect(oom).toEqual([
      expect.objectContaining({ reclaimRounds: ROUNDS_BEFORE_OOM, outcome: 'killed' }),
    ]);
  });

  it('before 4.7: reclaim "progresses" while pages_scanned < 6 x reclaimable pages, so the OOM killer waits thousands of rounds; a page freed anywhere starts the count again', async () => {
    const { model, sched, oom, hog } = await stuck('zone-reclaimable');
    const a = startAlloc(model, model.spawnTask('svc'), GFP.KERNEL);
    await sched.runFor(1000);
    expect(oom).toEqual([]);
    expect(model.stats.directReclaimCalls).toBeGreaterThan(ROUNDS_BEFORE_OOM * 10);
    const scanned = model.zone.pagesScanned;
    expect(scanned).toBeGreaterThan(0);
    // Any page freed (here a kernel page) resets zone->pages_scanned.
    model.allocator.free(1, 'kernel', false);
    expect(model.zone.pagesScanned).toBe(0);
    // 1000 dirty file pages are "reclaimable": 6000 fruitless scans, then the OOM kill.
    await sched.runFor(30_000);
    expect(oom).toEqual([expect.objectContaining({ outcome: 'killed' })]);
    expect(oom[0]!.reclaimRounds).toBeGreaterThan(6000);
    expect(hog.killed).toBe(true);
    expect(a.result?.ok).toBe(true);
  });

  it('before 4.7 the OOM victim (TIF_MEMDIE) gets the whole reserve; since, ALLOC_OOM (half of min)', async () => {
    const { model } = makeModel({ oomDetection: 'zone-reclaimable' });
    const victim = model.spawnTask('victim');
    victim.oomVictim = true;
    expect(gfpPfmemallocFlags(GFP.KERNEL, 'task', victim, true)).toBe(ALLOC.NO_WATERMARKS);
    expect(gfpPfmemallocFlags(GFP.KERNEL, 'task', victim)).toBe(ALLOC.OOM);
    setFree(model, 10);
    const r = await model.allocator.alloc({
      gfp: GFP.KERNEL,
      ctx: { exec: 'task', task: victim },
      use: 'kernel',
    });
    expect(r).toEqual({ ok: true, pfmemalloc: true });
  });
});
