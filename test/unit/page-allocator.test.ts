import { describe, expect, it } from 'vitest';
import {
  ALLOC,
  effectiveMark,
  gfpPfmemallocFlags,
  gfpToAllocFlags,
} from '../../reserve/alloc-flags.ts';
import { __GFP, GFP, gfpOr, type ExecContext, type GfpMask } from '../../reserve/gfp.ts';
import type { AllocRequest } from '../../reserve/page-allocator.ts';
import { PF, type Task } from '../../reserve/task.ts';
import { makeModel, setFree } from '../helpers/model.ts';

// 256 MiB: min 512, low 640, high 768.
const MIN = 512;

function request(task: Task, gfp: GfpMask, exec: ExecContext = 'task'): AllocRequest {
  return { gfp, ctx: { exec, task }, use: 'kernel' };
}

/** One non-sleeping allocation attempt with `free` pages free before it. */
function tryAt(
  free: number,
  gfp: GfpMask,
  opts: { exec?: ExecContext; flags?: number; victim?: boolean } = {},
) {
  const { model } = makeModel();
  const task = model.spawnTask('t');
  task.flags |= opts.flags ?? 0;
  task.oomVictim = opts.victim ?? false;
  setFree(model, free);
  const result = model.allocator.tryAlloc(request(task, gfp, opts.exec));
  return { model, result };
}

const ok = (free: number, gfp: GfpMask, opts?: Parameters<typeof tryAt>[2]) =>
  tryAt(free, gfp, opts).result?.ok === true;

describe('how far below min a request may go (__zone_watermark_ok)', () => {
  it('GFP_KERNEL, GFP_NOIO and GFP_NOWAIT stop at min: succeed at min+1, not at min', () => {
    for (const gfp of [GFP.KERNEL, GFP.NOIO, GFP.NOWAIT]) {
      expect(ok(MIN + 1, gfp)).toBe(true);
      expect(tryAt(MIN, gfp).result?.ok ?? false).toBe(false);
    }
  });

  it('__GFP_HIGH that may block goes down to min/2', () => {
    const gfp = gfpOr(GFP.KERNEL, __GFP.HIGH);
    expect(effectiveMark(MIN, gfpToAllocFlags(gfp, 0))).toBe(256);
    expect(ok(257, gfp)).toBe(true);
    expect(tryAt(256, gfp).result?.ok ?? false).toBe(false);
  });

  it('GFP_ATOMIC goes down to 3/8 of min: succeeds one page above 192 and fails at it', () => {
    expect(effectiveMark(MIN, gfpToAllocFlags(GFP.ATOMIC, 0))).toBe(192);
    expect(ok(193, GFP.ATOMIC, { exec: 'softirq' })).toBe(true);
    const at = tryAt(192, GFP.ATOMIC, { exec: 'softirq' });
    expect(at.result).toEqual({ ok: false, reason: 'watermark' });
    expect(at.model.zone.free).toBe(192);
  });

  it('GFP_ATOMIC with __GFP_NOMEMALLOC loses the non-blocking extra and stops at min/2', () => {
    const gfp = gfpOr(GFP.ATOMIC, __GFP.NOMEMALLOC);
    expect(ok(257, gfp, { exec: 'softirq' })).toBe(true);
    expect(ok(256, gfp, { exec: 'softirq' })).toBe(false);
  });

  it('an OOM victim gets half of what it would otherwise get (GFP_KERNEL: min/2)', () => {
    expect(ok(257, GFP.KERNEL, { victim: true })).toBe(true);
    expect(tryAt(256, GFP.KERNEL, { victim: true }).result?.ok ?? false).toBe(false);
  });

  it('a PF_MEMALLOC task drains free pages to zero, every page marked pfmemalloc', () => {
    const { model } = makeModel();
    const task = model.spawnTask('reclaimer');
    task.flags |= PF.MEMALLOC;
    setFree(model, 3);
    const results = [1, 2, 3, 4].map(() => model.allocator.tryAlloc(request(task, GFP.NOIO)));
    expect(results.slice(0, 3)).toEqual([
      { ok: true, pfmemalloc: true },
      { ok: true, pfmemalloc: true },
      { ok: true, pfmemalloc: true },
    ]);
    expect(results[3]).toEqual({ ok: false, reason: 'reserve-empty' });
    expect(model.zone.free).toBe(0);
    expect(model.zone.reserveUsed).toBe(3);
    model.allocator.free(3, 'kernel', true);
    expect(model.zone.reserveUsed).toBe(0);
    expect(model.zone.reservePeak).toBe(3);
    model.checkInvariants();
  });

  it('__GFP_MEMALLOC reaches zero in any context, hard IRQ included', () => {
    for (const exec of ['task', 'softirq', 'hardirq'] as const) {
      const r = tryAt(1, gfpOr(GFP.ATOMIC, __GFP.MEMALLOC), { exec }).result;
      expect(r).toEqual({ ok: true, pfmemalloc: true });
    }
  });

  it('a page from above the watermarks is not marked pfmemalloc', () => {
    const { model, result } = tryAt(MIN + 10, gfpOr(GFP.ATOMIC, __GFP.MEMALLOC), {
      exec: 'softirq',
    });
    expect(result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.zone.reserveUsed).toBe(0);
  });
});

describe('__gfp_pfmemalloc_flags', () => {
  const { model } = makeModel();
  const plain = model.spawnTask('plain');
  const memalloc = model.spawnTask('memalloc');
  memalloc.flags |= PF.MEMALLOC;
  const victim = model.spawnTask('victim');
  victim.oomVictim = true;

  it('__GFP_NOMEMALLOC always wins, even over __GFP_MEMALLOC and PF_MEMALLOC', () => {
    const both = gfpOr(GFP.KERNEL, __GFP.MEMALLOC, __GFP.NOMEMALLOC);
    expect(gfpPfmemallocFlags(both, 'task', memalloc)).toBe(0);
    expect(gfpPfmemallocFlags(gfpOr(GFP.KERNEL, __GFP.NOMEMALLOC), 'task', memalloc)).toBe(0);
  });

  it('PF_MEMALLOC gives no-watermarks in task context and softirq, never in hard IRQ', () => {
    expect(gfpPfmemallocFlags(GFP.ATOMIC, 'task', memalloc)).toBe(ALLOC.NO_WATERMARKS);
    expect(gfpPfmemallocFlags(GFP.ATOMIC, 'softirq', memalloc)).toBe(ALLOC.NO_WATERMARKS);
    expect(gfpPfmemallocFlags(GFP.ATOMIC, 'hardirq', memalloc)).toBe(0);
    expect(gfpPfmemallocFlags(GFP.ATOMIC, 'task', plain)).toBe(0);
  });

  it('an OOM victim gets ALLOC_OOM in task context only', () => {
    expect(gfpPfmemallocFlags(GFP.KERNEL, 'task', victim)).toBe(ALLOC.OOM);
    expect(gfpPfmemallocFlags(GFP.ATOMIC, 'softirq', victim)).toBe(0);
  });

  it('GFP_NOWAIT gets no reserve even though it cannot block', () => {
    const flags = gfpToAllocFlags(GFP.NOWAIT, 0);
    expect(flags & ALLOC.NON_BLOCK).toBe(ALLOC.NON_BLOCK);
    expect(effectiveMark(MIN, flags)).toBe(MIN);
  });
});

describe('fast path and slow path', () => {
  it('the fast path succeeds only above low; at low the slow path wakes kswapd and retries at min', async () => {
    const { model, sched } = makeModel();
    model.start();
    const task = model.spawnTask('t');
    setFree(model, 641);
    expect(model.allocator.tryAlloc(request(task, GFP.KERNEL))?.ok).toBe(true);
    await sched.runFor(1);
    expect(model.stats.kswapdWakeups).toBe(0);
    expect(model.zone.free).toBe(640);
    expect(model.allocator.tryAlloc(request(task, GFP.KERNEL))?.ok).toBe(true);
    expect(model.stats.kswapdWakeups).toBe(1);
    model.stop();
  });

  it('a caller that cannot block fails below its floor instead of reclaiming', () => {
    const { model, result } = tryAt(MIN, GFP.NOWAIT);
    expect(result).toEqual({ ok: false, reason: 'watermark' });
    expect(model.stats.directReclaimCalls).toBe(0);
  });

  it('a PF_MEMALLOC task never enters direct reclaim: with the reserve empty it fails at once', async () => {
    const { model } = makeModel();
    const task = model.spawnTask('reclaimer');
    task.flags |= PF.MEMALLOC;
    setFree(model, 0);
    const r = await model.allocator.alloc(request(task, GFP.KERNEL));
    expect(r).toEqual({ ok: false, reason: 'reserve-empty' });
    expect(model.stats.directReclaimCalls).toBe(0);
  });

  it('below min a blocking caller direct-reclaims clean pages and succeeds', async () => {
    const { model, sched } = makeModel();
    const reader = model.spawnTask('reader');
    await model.files.read(reader, 2000);
    setFree(model, MIN);
    const task = model.spawnTask('t');
    const p = model.allocator.alloc(request(task, GFP.KERNEL));
    await sched.runFor(10);
    expect(await p).toEqual({ ok: true, pfmemalloc: false });
    expect(model.stats.directReclaimCalls).toBe(1);
    expect(model.stats.cleanPagesReclaimed).toBeGreaterThanOrEqual(32);
    model.checkInvariants();
  });

  it('__GFP_NORETRY gives up after one reclaim round without progress', async () => {
    const { model, sched } = makeModel();
    setFree(model, MIN);
    const task = model.spawnTask('t');
    const p = model.allocator.alloc(request(task, gfpOr(GFP.KERNEL, __GFP.NORETRY)));
    await sched.runFor(100);
    expect(await p).toEqual({ ok: false, reason: 'noretry' });
    expect(model.stats.directReclaimCalls).toBe(1);
  });

  it('a costly order (> 3) gives up instead of invoking the OOM killer', async () => {
    const { model, sched } = makeModel();
    setFree(model, MIN);
    const task = model.spawnTask('t');
    const p = model.allocator.alloc({ ...request(task, GFP.KERNEL), order: 4 });
    await sched.runFor(100);
    expect(await p).toEqual({ ok: false, reason: 'costly' });
    expect(model.stats.oomKills).toBe(0);
  });

  it('scoped PF_MEMALLOC_NOFS drops __GFP_FS, so the OOM killer will not kill for it', async () => {
    const { model, sched } = makeModel();
    setFree(model, MIN);
    const task = model.spawnTask('fs-writer');
    task.flags |= PF.MEMALLOC_NOFS;
    const hog = model.spawnTask('hog');
    hog.rssPages = 1000;
    let done = false;
    void model.allocator.alloc(request(task, GFP.KERNEL)).then(() => (done = true));
    await sched.runFor(2000);
    expect(done).toBe(false);
    expect(model.stats.oomKills).toBe(0);
    expect(model.stats.oomSkippedNoFs).toBeGreaterThan(0);
  });
});
