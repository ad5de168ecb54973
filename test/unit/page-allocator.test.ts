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

describe('recursive reclaim (vm.recursiveReclaim, seed 004)', () => {
  /** A PF_MEMALLOC task, the reserve emptied, `clean` pages of clean page cache. */
  async function atEmptyReserve(recursiveReclaim: boolean, clean: number) {
    const t = makeModel({ recursiveReclaim });
    const reader = t.model.spawnTask('reader');
    await t.model.files.read(reader, clean);
    const task = t.model.spawnTask('nbd0');
    task.flags |= PF.MEMALLOC;
    setFree(t.model, 0);
    return { ...t, task };
  }

  it('a reserve user that finds the reserve empty frees clean pages (without writeout) and gets one', async () => {
    const { model, task } = await atEmptyReserve(true, 100);
    expect(model.allocator.tryAlloc(request(task, GFP.NOIO))).toEqual({
      ok: true,
      pfmemalloc: true,
    });
    // SWAP_CLUSTER_MAX clean pages freed at once; nothing was written out.
    expect(model.stats.recursiveReclaimCalls).toBe(1);
    expect(model.stats.recursiveReclaimPages).toBe(32);
    expect(model.zone.pages('file_clean')).toBe(68);
    expect(model.stats.writeoutIssued).toBe(0);
    model.checkInvariants();
  });

  it('works only if there are clean pages: without them the reserve user still fails', async () => {
    const { model, task } = await atEmptyReserve(true, 0);
    expect(model.allocator.tryAlloc(request(task, GFP.NOIO))).toEqual({
      ok: false,
      reason: 'reserve-empty',
    });
    expect(model.stats.recursiveReclaimCalls).toBe(1);
    expect(model.stats.recursiveReclaimPages).toBe(0);
  });

  it('is never tried while the reserve has pages, nor without the knob', async () => {
    const withReserve = await atEmptyReserve(true, 100);
    setFree(withReserve.model, 5);
    expect(withReserve.model.allocator.tryAlloc(request(withReserve.task, GFP.NOIO))?.ok).toBe(
      true,
    );
    expect(withReserve.model.stats.recursiveReclaimCalls).toBe(0);
    const off = await atEmptyReserve(false, 100);
    expect(off.model.allocator.tryAlloc(request(off.task, GFP.NOIO))?.ok).toBe(false);
    expect(off.model.stats.recursiveReclaimCalls).toBe(0);
    expect(off.model.zone.pages('file_clean')).toBe(100);
  });

  it('does nothing for a GFP_ATOMIC receive below its floor (no reserve access, no recursion)', async () => {
    const { model } = await atEmptyReserve(true, 100);
    setFree(model, 150);
    const interrupted = model.spawnTask('service');
    const r = model.allocator.tryAlloc({
      gfp: GFP.ATOMIC,
      ctx: { exec: 'softirq', task: interrupted },
      use: 'skb',
    });
    expect(r?.ok ?? false).toBe(false);
    expect(model.stats.recursiveReclaimCalls).toBe(0);
  });
});
