// The page allocator of machine A: __alloc_pages with its fast path and slow path
// (mm/page_alloc.c). Expected outcomes are values: a page (maybe pfmemalloc), or no
// page. A request that may block can sleep in direct reclaim, throttling and retries;
// those waits are asynchronous in model time. One zone, no fragmentation.
import {
  ALLOC,
  gfpPfmemallocFlags,
  gfpToAllocFlags,
  watermarkFor,
  zoneWatermarkOk,
} from './alloc-flags.ts';
import { sleep, type Scheduler } from './clock.ts';
import { invariant } from './errors.ts';
import type { EventSink } from './events.ts';
import { __GFP, describeGfp, gfpAllowsBlocking, type GfpMask } from './gfp.ts';
import type { MemStats } from './mem-stats.ts';
import type { ReserveStrategy } from './reserve-strategy.ts';
import { PF, type AllocContext, type Task } from './task.ts';
import { MAX_RECLAIM_RETRIES, PAGE_ALLOC_COSTLY_ORDER } from './units.ts';
import type { PageState, PageUse, Zone } from './zone.ts';

export interface AllocRequest {
  readonly gfp: GfpMask;
  /** 2^order contiguous pages; default 0. */
  readonly order?: number;
  readonly ctx: AllocContext;
  /** What the pages become. */
  readonly use: PageUse;
}

export type AllocFailReason =
  /** Cannot block and no watermark let it through. */
  | 'watermark'
  /** PF_MEMALLOC caller found even the reserve empty (no recursion into reclaim). */
  | 'reserve-empty'
  /** __GFP_NORETRY gave up after one reclaim round. */
  | 'noretry'
  /** Costly order gave up without OOM. */
  | 'costly'
  /** Reclaim made no progress and the OOM killer could not help. */
  | 'oom'
  /** The caller is an OOM victim that already used its reserve. */
  | 'oom-victim'
  /** __GFP_NOFAIL without __GFP_DIRECT_RECLAIM: unsupported, NULL with a warning. */
  | 'nofail-cannot-block';

export type AllocResult =
  | { readonly ok: true; readonly pfmemalloc: boolean }
  | { readonly ok: false; readonly reason: AllocFailReason };

/** Outcome of out_of_memory(). */
export type OomOutcome = 'killed' | 'no-kill-nofs' | 'current-dying' | 'no-victim';

/** Late-bound collaborators: kswapd, reclaim and the OOM killer are built after the allocator. */
export interface AllocatorHooks {
  /** wakeup_kswapd. */
  wakeKswapd(): void;
  /** __alloc_pages_direct_reclaim's try_to_free_pages: pages of progress. */
  directReclaim(request: AllocRequest, gfp: GfpMask): Promise<number>;
  /** zone_reclaimable_pages: file LRU pages, plus anon ones (writeback included) while swap has room. */
  reclaimablePages(): number;
  /** zone->pages_scanned, reset by every page freed (before 4.7). */
  pagesScanned?(): number;
  /** out_of_memory for a global (non-memcg) shortage. */
  outOfMemory(gfp: GfpMask, order: number, task: Task): OomOutcome;
  /**
   * Recursive reclaim (seed 004, Christoph Lameter's RFC): an allocation in the
   * writeout path that fails frees clean pages without starting writeout. Returns
   * pages freed. Absent = vanilla.
   */
  recursiveReclaim?(pages: number): number;
}

const OK_NORMAL: AllocResult = Object.freeze({ ok: true, pfmemalloc: false });
const OK_PFMEMALLOC: AllocResult = Object.freeze({ ok: true, pfmemalloc: true });

function fail(reason: AllocFailReason): AllocResult {
  return { ok: false, reason };
}

/** current_gfp_context: scoped NOIO/NOFS task flags drop __GFP_IO/__GFP_FS. */
export function currentGfpContext(gfp: GfpMask, task: Task): GfpMask {
  let m = gfp as number;
  if (task.flags & PF.MEMALLOC_NOIO) m &= ~(__GFP.IO | __GFP.FS);
  else if (task.flags & PF.MEMALLOC_NOFS) m &= ~__GFP.FS;
  return m as GfpMask;
}

export class PageAllocator {
  private oomLockHeld = false;

  constructor(
    private readonly zone: Zone,
    private readonly reserve: ReserveStrategy,
    private readonly scheduler: Scheduler,
    private readonly stats: MemStats,
    private readonly events: EventSink,
    private readonly hooks: AllocatorHooks,
    /**
     * 'retries' (4.7+, should_reclaim_retry): OOM after 16 reclaim rounds without progress.
     * 'zone-reclaimable' (before 4.7): did_some_progress is 1 while any zone is reclaimable
     * (pages_scanned < 6 * reclaimable pages, reset by every page freed), the allocation
     * retries for as long as there is progress, and the OOM killer is asked only after a
     * round with none; an OOM victim (TIF_MEMDIE) gets the whole reserve.
     */
    private readonly oomDetection: 'retries' | 'zone-reclaimable' = 'retries',
  ) {}

  /**
   * Allocation without sleeping. Any context. For a request that cannot block this is
   * the whole answer; for one that may block, undefined means "needs direct reclaim":
   * call alloc() (task context only).
   */
  tryAlloc(req: AllocRequest): AllocResult | undefined {
    const order = req.order ?? 0;
    const { task, exec } = req.ctx;
    const gfp = currentGfpContext(req.gfp, task);
    // Fast path: only above the low watermark.
    if (this.getPage(order, req.use, ALLOC.WMARK_LOW)) return OK_NORMAL;

    // Slow path, the part that never sleeps.
    let flags = gfpToAllocFlags(gfp, order);
    if (flags & ALLOC.KSWAPD) this.hooks.wakeKswapd();
    if (this.getPage(order, req.use, flags)) return OK_NORMAL;
    const reserveFlags = gfpPfmemallocFlags(gfp, exec, task);
    if (reserveFlags) flags = reserveFlags | (flags & ALLOC.KSWAPD);
    const got = this.getPageRecursive(order, req.use, flags);
    if (got) return got;

    if (!gfpAllowsBlocking(gfp)) {
      if (gfp & __GFP.NOFAIL) {
        // WARN_ON_ONCE_GFP: silent under __GFP_NOWARN.
        if (!(gfp & __GFP.NOWARN)) {
          this.events({
            type: 'nofail-unsupported',
            at: this.scheduler.now(),
            gfp: describeGfp(gfp),
            task: task.name,
          });
        }
        return this.failed(req, gfp, 'nofail-cannot-block');
      }
      return this.failed(
        req,
        gfp,
        reserveFlags & ALLOC.NO_WATERMARKS ? 'reserve-empty' : 'watermark',
      );
    }
    // Avoid recursion of direct reclaim: PF_MEMALLOC fails here (NOFAIL loops in alloc()).
    if (task.flags & PF.MEMALLOC && !(gfp & __GFP.NOFAIL)) {
      return this.failed(req, gfp, 'reserve-empty');
    }
    return undefined;
  }

  /**
   * __alloc_pages: may sleep in direct reclaim, pfmemalloc throttling, reclaim
   * throttling, retries and the NOFAIL loop when the gfp mask allows blocking.
   * Task context. Never rejects.
   */
  async alloc(req: AllocRequest): Promise<AllocResult> {
    const quick = this.tryAlloc(req);
    if (quick) return quick;
    return this.slowpathBlocking(req);
  }

  /** Frees `n` pages that were in `from`; pfmemalloc pages go back through the reserve. */
  free(n: number, from: Exclude<PageState, 'free'>, pfmemalloc: boolean): void {
    if (pfmemalloc) this.reserve.release(n, from);
    else this.zone.give(n, from, false);
  }

  /** get_page_from_freelist for one zone: watermark check, then take the pages. */
  private getPage(order: number, use: PageUse, flags: number): boolean {
    const n = 1 << order;
    if (flags & ALLOC.NO_WATERMARKS) {
      if (this.reserve.take(n, use)) {
        this.stats.pfmemallocAllocs += n;
        return true;
      }
      this.stats.reserveEmergencies++;
      return false;
    }
    const mark = watermarkFor(flags, this.zone.watermarks);
    if (!zoneWatermarkOk(this.zone.free, order, mark, flags)) return false;
    this.zone.take(n, use, false);
    return true;
  }

  /** getPage, then (when configured) recursive reclaim of clean pages for reserve users. */
  private getPageRecursive(order: number, use: PageUse, flags: number): AllocResult | undefined {
    if (this.getPage(order, use, flags))
      return flags & ALLOC.NO_WATERMARKS ? OK_PFMEMALLOC : OK_NORMAL;
    if (flags & ALLOC.NO_WATERMARKS && this.hooks.recursiveReclaim) {
      const n = 1 << order;
      if (this.hooks.recursiveReclaim(n) > 0 && this.getPage(order, use, flags))
        return OK_PFMEMALLOC;
    }
    return undefined;
  }

  private async slowpathBlocking(req: AllocRequest): Promise<AllocResult> {
    const order = req.order ?? 0;
    const { task, exec } = req.ctx;
    const gfp = currentGfpContext(req.gfp, task);
    invariant(
      exec === 'task',
      () => `blocking allocation ${describeGfp(gfp)} outside task context`,
    );
    const costly = order > PAGE_ALLOC_COSTLY_ORDER;
    let noProgressLoops = 0;
    for (let round = 0; ; round++) {
      if (round > 0) this.stats.allocRetries++;
      let flags = gfpToAllocFlags(gfp, order);
      if (flags & ALLOC.KSWAPD) this.hooks.wakeKswapd();
      const reserveFlags = gfpPfmemallocFlags(
        gfp,
        exec,
        task,
        this.oomDetection === 'zone-reclaimable',
      );
      if (reserveFlags) flags = reserveFlags | (flags & ALLOC.KSWAPD);
      const got = this.getPageRecursive(order, req.use, flags);
      if (got) return got;

      let giveUp: AllocFailReason | undefined;
      if (task.flags & PF.MEMALLOC) {
        giveUp = 'reserve-empty';
      } else {
        const progress = await this.hooks.directReclaim(req, gfp);
        const after = this.getPageRecursive(order, req.use, flags);
        if (after) return after;
        if (gfp & __GFP.NORETRY) giveUp = 'noretry';
        else if (costly && !(gfp & __GFP.RETRY_MAYFAIL)) giveUp = 'costly';
        else if (
          this.oomDetection === 'zone-reclaimable' &&
          this.zoneReclaimableProgress(progress)
        ) {
          // should_alloc_retry: progress means retry, with no limit, after
          // wait_iff_congested (HZ/50 at most; a jiffy here when nothing is congested).
          await sleep(this.scheduler, 1);
          continue;
        } else {
          // should_reclaim_retry: reset on progress, give up after 16 rounds without.
          noProgressLoops = progress > 0 && !costly ? 0 : noProgressLoops + 1;
          if (
            this.oomDetection === 'retries' &&
            noProgressLoops <= MAX_RECLAIM_RETRIES &&
            this.reclaimCouldSatisfy(order, flags)
          )
            continue;
          const oom = await this.mayOom(req, gfp, order);
          if (oom.result) return oom.result;
          if (task.oomVictim && (flags & ALLOC.OOM || gfp & __GFP.NOMEMALLOC))
            giveUp = 'oom-victim';
          else if (oom.progress) {
            noProgressLoops = 0;
            continue;
          } else giveUp = 'oom';
        }
      }

      // nopage: a NOFAIL request that may block never returns NULL.
      if (gfp & __GFP.NOFAIL) {
        if (this.getPage(order, req.use, ALLOC.MIN_RESERVE)) return OK_NORMAL;
        this.stats.nofailRetries++;
        // The kernel's cond_resched() before `goto retry`: one jiffy of model time.
        task.setActivity('D:nofail-retry', this.scheduler.now());
        await sleep(this.scheduler, 1);
        task.setActivity('running', this.scheduler.now());
        continue;
      }
      return this.failed(req, gfp, giveUp);
    }
  }

  /**
   * do_try_to_free_pages before 4.7: nr_reclaimed, or 1 while the zone is reclaimable
   * (zone_reclaimable: pages_scanned < zone_reclaimable_pages * 6; !all_unreclaimable).
   */
  private zoneReclaimableProgress(reclaimed: number): boolean {
    if (reclaimed > 0) return true;
    const scanned = this.hooks.pagesScanned?.() ?? 0;
    return scanned < this.hooks.reclaimablePages() * 6;
  }

  /**
   * should_reclaim_retry's zone check: would the request succeed at the min watermark
   * if every reclaimable page were reclaimed?
   */
  private reclaimCouldSatisfy(order: number, flags: number): boolean {
    const z = this.zone;
    return zoneWatermarkOk(z.free + this.hooks.reclaimablePages(), order, z.watermarks.min, flags);
  }

  /** __alloc_pages_may_oom: last high-watermark try, then the OOM killer's rules. */
  private async mayOom(
    req: AllocRequest,
    gfp: GfpMask,
    order: number,
  ): Promise<{ result?: AllocResult; progress: boolean }> {
    // Someone else holds oom_lock: they are making progress for us.
    if (this.oomLockHeld) {
      await sleep(this.scheduler, 1);
      return { progress: true };
    }
    if (this.getPage(order, req.use, ALLOC.WMARK_HIGH))
      return { result: OK_NORMAL, progress: true };
    if (order > PAGE_ALLOC_COSTLY_ORDER) return { progress: false };
    if (gfp & (__GFP.RETRY_MAYFAIL | __GFP.THISNODE)) return { progress: false };
    this.oomLockHeld = true;
    let outcome: OomOutcome;
    try {
      outcome = this.hooks.outOfMemory(gfp, order, req.ctx.task);
    } finally {
      this.oomLockHeld = false;
    }
    // out_of_memory() || WARN_ON_ONCE(__GFP_NOFAIL): NOFAIL always counts as progress.
    const progress = outcome !== 'no-victim' || (gfp & __GFP.NOFAIL) !== 0;
    let result: AllocResult | undefined;
    if (progress && gfp & __GFP.NOFAIL && this.getPage(order, req.use, ALLOC.NO_WATERMARKS)) {
      result = OK_PFMEMALLOC;
    }
    // A kill is followed by schedule_timeout_killable(1) to let the victim exit.
    if (outcome === 'killed') await sleep(this.scheduler, 1);
    return result ? { result, progress } : { progress };
  }

  private failed(req: AllocRequest, gfp: GfpMask, reason: AllocFailReason): AllocResult {
    this.stats.allocFailures++;
    if (!(gfp & __GFP.NOWARN) && (gfp & __GFP.DIRECT_RECLAIM) !== 0) {
      this.events({
        type: 'alloc-failure',
        at: this.scheduler.now(),
        gfp: describeGfp(gfp),
        order: req.order ?? 0,
        task: req.ctx.task.name,
        reason,
      });
    }
    return fail(reason);
  }
}
