// Page reclaim (mm/vmscan.c): frees clean page cache at once and sends anonymous pages
// to swap; a page whose writeback completed is rotated to the reclaim end of its LRU and
// freed by a later scan, which counts it as its own progress (sc->nr_reclaimed). Direct
// reclaim (try_to_free_pages) runs under PF_MEMALLOC, may be throttled on
// pfmemalloc_wait first, and when it made no progress sleeps as its era and its kind of
// task say (reclaim_throttle since 5.16, congestion_wait before). Starting a writeout
// sleeps while the swap device's queue is full: the D state.
import type { Scheduler } from './clock.ts';
import type { FileCache } from './file-cache.ts';
import { __GFP, type GfpMask } from './gfp.ts';
import type { MemStats } from './mem-stats.ts';
import type { MemCgroup } from './memcg.ts';
import { ANON, type AnonMemory } from './anon-memory.ts';
import { PF, type Task } from './task.ts';
import { HZ, SWAP_CLUSTER_MAX } from './units.ts';
import { WaitQueue } from './wait-queue.ts';
import type { Zone } from './zone.ts';

/** scan_control: what one reclaim pass is for. */
export interface ScanControl {
  readonly nrToReclaim: number;
  readonly gfp: GfpMask;
  /** The reclaiming task (sleeps on its behalf). */
  readonly task: Task;
  /** Cgroup reclaim target; null = global reclaim. */
  readonly memcg: MemCgroup | null;
  readonly kswapd: boolean;
}

/** reclaim_throttle reasons and their timeouts (VMSCAN_THROTTLE_*). */
export const RECLAIM_THROTTLE_MS = {
  writeback: HZ / 10,
  isolated: HZ / 50,
  noprogress: 1,
  /** VMSCAN_THROTTLE_CONGESTED falls through to the no-progress case. */
  congested: 1,
} as const;
export type ReclaimThrottleReason = keyof typeof RECLAIM_THROTTLE_MS;

/**
 * How a reclaimer that made no progress waits: 'reclaim_throttle' (5.16+: kswapd sleeps
 * HZ/10 on writeback, a direct or memcg reclaimer 1 jiffy, other kernel threads not at
 * all) or 'congestion_wait' (before 5.16: congestion_wait / wait_iff_congested(HZ/10) for
 * every reclaimer while pages are under writeback, kernel threads included).
 */
export type ReclaimThrottleStyle = 'reclaim_throttle' | 'congestion_wait';

/** Who is reclaiming, as reclaim_throttle tells them apart. */
export type ReclaimerKind = 'kswapd' | 'direct' | 'memcg';

/**
 * What a reclaimer of `kind` in `task`-like context that freed nothing sleeps on, or
 * null for no sleep. 5.16+: shrink_node gives kswapd the WRITEBACK sleep (pages under
 * writeback marked for immediate reclaim); a direct reclaimer gets CONGESTED or
 * NOPROGRESS (1 jiffy, consider_reclaim_throttle), cgroup reclaim CONGESTED while pages
 * are under writeback; reclaim_throttle returns at once for kernel threads other than
 * kswapd. Before 5.16 congestion_wait(BLK_RW_ASYNC, HZ/10) sleeps anyone, woken early as
 * writeback completes; with nothing under writeback, a jiffy.
 */
export function reclaimThrottleReason(
  style: ReclaimThrottleStyle,
  kind: ReclaimerKind,
  kthread: boolean,
  writebackPages: number,
): ReclaimThrottleReason | null {
  if (style === 'congestion_wait') {
    if (kind === 'kswapd' || writebackPages > 0) return writebackPages > 0 ? 'writeback' : null;
    return 'noprogress';
  }
  if (kind === 'kswapd') return writebackPages > 0 ? 'writeback' : null;
  if (kthread) return null;
  if (kind === 'memcg') return writebackPages > 0 ? 'congested' : null;
  return writebackPages > 0 ? 'congested' : 'noprogress';
}

/**
 * memalloc_retry_wait: how long a caller that loops on a failed allocation sleeps:
 * one jiffy if the request could block and retry (it probably waited in reclaim
 * already), HZ/50 otherwise.
 */
export function memallocRetryWaitMs(gfp: GfpMask): number {
  return gfp & __GFP.DIRECT_RECLAIM && !(gfp & __GFP.NORETRY) ? 1 : HZ / 50;
}

/** A shrinker: something outside the LRUs that gives memory back under pressure. */
export interface Shrinker {
  /** count_objects: pages it could free now (may have side effects, as kfree_rcu's does). */
  count(): number;
  /** scan_objects: frees up to `n` pages; returns pages freed. */
  scan(n: number): number;
  /** What an object costs to recreate (DEFAULT_SEEKS is 2). */
  readonly seeks: number;
}

/** vm.swappiness default: anon's weight against file's (200 - swappiness) in get_scan_count. */
const SWAPPINESS = 60;

/** SHRINK_BATCH: objects a shrinker is asked to scan at a time. */
const SHRINK_BATCH = 128;

/**
 * do_shrink_slab in its proportional form (4.x, before reclaim priorities drove it): a
 * shrinker's scan work grows with the share of the LRU pages this pass scanned, is
 * carried over between passes (nr_deferred), and runs in batches once it reaches a
 * batch or everything the shrinker holds. Returns pages freed.
 */
export function shrinkSlab(
  shrinker: Shrinker,
  state: { deferred: number },
  scanned: number,
  lruPages: number,
): number {
  const freeable = shrinker.count();
  if (freeable <= 0) return 0;
  const delta = ((4 * scanned) / shrinker.seeks) * (freeable / (lruPages + 1));
  let total = Math.min(state.deferred + delta, 2 * freeable);
  let freed = 0;
  while (total >= SHRINK_BATCH || total >= freeable) {
    const n = Math.min(SHRINK_BATCH, Math.ceil(total));
    const got = shrinker.scan(n);
    total -= n;
    freed += got;
    if (got === 0) break;
  }
  state.deferred = Math.max(0, total);
  return freed;
}

export interface DirectReclaimThrottle {
  /** throttle_direct_reclaim: true if the task has a fatal signal pending. */
  throttleDirectReclaim(task: Task, gfp: GfpMask): Promise<boolean>;
}

export class Reclaimer {
  /** reclaim_wait[VMSCAN_THROTTLE_WRITEBACK]: woken as writeback completes. */
  private readonly writebackWait: WaitQueue;
  /** NR_THROTTLED_WRITTEN: writeouts completed, ever. */
  private throttledWritten = 0;
  /** nr_reclaim_start: throttledWritten when the first current sleeper arrived. */
  private reclaimStart = 0;
  private readonly shrinkers: { shrinker: Shrinker; deferred: number }[] = [];
  /** Called when reclaim made progress (resets kswapd's failure count). */
  onProgress: () => void = () => {};

  constructor(
    private readonly zone: Zone,
    private readonly anon: AnonMemory,
    private readonly files: FileCache,
    private readonly scheduler: Scheduler,
    private readonly stats: MemStats,
    private readonly throttle: DirectReclaimThrottle | null,
    private readonly throttleStyle: ReclaimThrottleStyle = 'reclaim_throttle',
    /** throttle_vm_writeout (until 4.9) with vm.dirty_ratio; null: not in this kernel. */
    private readonly vmWriteout: { readonly dirtyRatio: number } | null = null,
  ) {
    this.writebackWait = new WaitQueue(scheduler);
    anon.onWritebackEnd = () => this.writebackEnded();
  }

  /** Registers a shrinker, called on every global reclaim pass. */
  addShrinker(shrinker: Shrinker): void {
    this.shrinkers.push({ shrinker, deferred: 0 });
  }

  /** Pages freed by reclaim so far, by anyone (clean file pages, written anon pages). */
  get freedTotal(): number {
    return this.files.freedTotal + this.anon.reclaimFreedTotal;
  }

  /**
   * shrink_node: one reclaim pass. Clean page cache goes first (cheap, no I/O); then the
   * anon LRU is scanned: a page whose writeback completed is freed (no I/O needed), others
   * are written to swap when the mask allows I/O. Sleeps while the swap queue is full.
   * Returns what this pass itself reclaimed (sc->nr_reclaimed): pages written out now are
   * freed by a later scan, not counted here.
   */
  async shrink(sc: ScanControl): Promise<number> {
    if (!sc.memcg) {
      // shrink_slab: the pass scans at least its target of LRU pages.
      const lru = this.zone.pages('anon') + this.zone.pages('file_clean');
      for (const s of this.shrinkers) shrinkSlab(s.shrinker, s, sc.nrToReclaim, lru);
    }
    const mayIo = (sc.gfp & __GFP.IO) !== 0;
    let reclaimed = this.files.reclaimClean(sc.memcg, this.fileScanTarget(sc, mayIo));
    let nrScanned = reclaimed;
    if (reclaimed < sc.nrToReclaim) {
      // shrink_folio_list: at most SWAP_CLUSTER_MAX anon pages isolated per pass.
      const want = Math.min(SWAP_CLUSTER_MAX, sc.nrToReclaim - reclaimed);
      for (let scanned = 0; scanned < want; scanned++) {
        if (this.anon.reclaimablePages(sc.memcg) === 0) break;
        const victim = this.anon.isolateVictim(sc.memcg);
        if (victim < 0) break;
        nrScanned++;
        if (this.anon.stateOf(victim) === ANON.CLEAN) {
          reclaimed += this.anon.freeClean(victim);
          continue;
        }
        // An anon page needs __GFP_IO to be added to swap: keep it.
        if (!mayIo) {
          this.anon.putBack(victim);
          break;
        }
        if (!(await this.anon.startWriteout(victim, sc.task))) break;
      }
    }
    // Counted after the frees above reset it: what this pass scanned without effect.
    if (reclaimed === 0) this.zone.pagesScanned += Math.max(nrScanned, 1);
    if (reclaimed > 0) this.onProgress();
    return reclaimed;
  }

  /**
   * get_scan_count: how much of this pass's target goes to the file LRU. While there is
   * enough inactive page cache (inactive_list_is_low false: a cache read once) reclaim
   * takes only file pages (SCAN_FILE), as before any anon page is written; once the cache
   * is mostly active (a reader re-reading its files) file and anon are scanned in
   * proportion to their sizes and vm.swappiness (60): SCAN_FRACT.
   */
  private fileScanTarget(sc: ScanControl, mayIo: boolean): number {
    const file = this.files.cleanPages(sc.memcg);
    const anon = mayIo ? this.anon.reclaimablePages(sc.memcg) : 0;
    if (file === 0 || anon === 0 || !this.files.inactiveFileLow(sc.memcg)) return sc.nrToReclaim;
    const fp = file * (200 - SWAPPINESS);
    const ap = anon * SWAPPINESS;
    return Math.ceil((sc.nrToReclaim * fp) / (fp + ap));
  }

  /**
   * Recursive reclaim (seed 004, not in the kernel): free clean pages without
   * starting writeout, for an allocation in the writeout path. Never sleeps.
   */
  reclaimCleanOnly(pages: number): number {
    this.stats.recursiveReclaimCalls++;
    const freed = this.files.reclaimClean(null, Math.max(pages, SWAP_CLUSTER_MAX));
    this.stats.recursiveReclaimPages += freed;
    return freed;
  }

  /**
   * try_to_free_pages for a direct reclaimer: pfmemalloc throttle, then a pass under
   * PF_MEMALLOC, then the era's throttle when nothing was freed. Returns this caller's
   * progress, sc->nr_reclaimed (1 for a task with a fatal signal, so that it retries and
   * exits): what kswapd or completions free meanwhile is not its progress.
   */
  async directReclaim(task: Task, gfp: GfpMask): Promise<number> {
    this.stats.directReclaimCalls++;
    if (this.throttle && (await this.throttle.throttleDirectReclaim(task, gfp))) return 1;
    const saved = task.memallocNoreclaimSave();
    let reclaimed = 0;
    try {
      reclaimed = await this.shrink({
        nrToReclaim: SWAP_CLUSTER_MAX,
        gfp,
        task,
        memcg: null,
        kswapd: false,
      });
      if (reclaimed === 0) await this.throttleNoProgress('direct', task);
      await this.throttleVmWriteout(gfp, task);
    } finally {
      task.memallocNoreclaimRestore(saved);
    }
    return reclaimed;
  }

  /** try_to_free_mem_cgroup_pages: reclaim within one cgroup, under PF_MEMALLOC. */
  async memcgReclaim(memcg: MemCgroup, nrPages: number, gfp: GfpMask, task: Task): Promise<number> {
    const saved = task.memallocNoreclaimSave();
    let reclaimed = 0;
    try {
      reclaimed = await this.shrink({
        nrToReclaim: Math.max(nrPages, SWAP_CLUSTER_MAX),
        gfp,
        task,
        memcg,
        kswapd: false,
      });
      if (reclaimed === 0) await this.throttleNoProgress('memcg', task);
    } finally {
      task.memallocNoreclaimRestore(saved);
    }
    return reclaimed;
  }

  /**
   * The dirty threshold throttle_vm_writeout compares writeback with: vm.dirty_ratio of
   * the dirtyable memory (global_dirtyable_memory: free pages plus the file LRU), plus
   * 10% ("boost the allowable dirty threshold a bit for page allocators").
   */
  vmWriteoutThreshold(dirtyRatio: number): number {
    const dirtyable =
      this.zone.free + this.zone.pages('file_clean') + this.zone.pages('file_dirty');
    const thresh = Math.floor((dirtyRatio * dirtyable) / 100);
    return thresh + Math.floor(thresh / 10);
  }

  /**
   * throttle_vm_writeout (mm/page-writeback.c, called from a direct reclaimer's pass until
   * 4.9): while NR_WRITEBACK exceeds the dirty threshold plus 10%, congestion_wait(BLK_RW_
   * ASYNC, HZ/10); a caller without both __GFP_FS and __GFP_IO (GFP_NOIO, GFP_NOFS) leaves
   * after one wait. The device is blk-mq (nbd since 4.9, dm over it), which never marks
   * itself congested, so each wait is the whole 100 ms. Not for kswapd, and not for a
   * PF_LESS_THROTTLE task (seed 000's 2016 proposal).
   */
  async throttleVmWriteout(gfp: GfpMask, task: Task): Promise<void> {
    const vm = this.vmWriteout;
    if (!vm || task.flags & PF.LESS_THROTTLE) return;
    const start = this.scheduler.now();
    for (;;) {
      if (this.zone.pages('writeback') <= this.vmWriteoutThreshold(vm.dirtyRatio)) break;
      this.stats.throttleVmWriteoutWaits++;
      const previous = task.activity;
      task.setActivity('D:throttle-vm-writeout', this.scheduler.now());
      await new WaitQueue(this.scheduler).wait(HZ / 10);
      task.setActivity(previous, this.scheduler.now());
      if ((gfp & (__GFP.FS | __GFP.IO)) !== (__GFP.FS | __GFP.IO)) break;
    }
    const spent = this.scheduler.now() - start;
    this.stats.throttleVmWriteoutMs += spent;
    if (task.flags & PF.KTHREAD) this.stats.throttleVmWriteoutKthreadMs += spent;
  }

  /** The sleep of a reclaimer of `kind` that freed nothing (reclaimThrottleReason). */
  async throttleNoProgress(kind: ReclaimerKind, task: Task): Promise<void> {
    const reason = reclaimThrottleReason(
      this.throttleStyle,
      kind,
      (task.flags & PF.KTHREAD) !== 0,
      this.zone.pages('writeback'),
    );
    if (reason) await this.reclaimThrottle(reason, task);
  }

  /**
   * reclaim_throttle: sleep up to the reason's timeout. Writeback sleepers are woken
   * early once more than SWAP_CLUSTER_MAX pages per sleeper have completed writeback
   * since the first of them went to sleep.
   */
  async reclaimThrottle(reason: ReclaimThrottleReason, task: Task): Promise<void> {
    this.stats.reclaimThrottleWaits++;
    const previous = task.activity;
    task.setActivity('D:reclaim-throttle', this.scheduler.now());
    if (reason === 'writeback') {
      if (this.writebackWait.waiters === 0) this.reclaimStart = this.throttledWritten;
      await this.writebackWait.wait(RECLAIM_THROTTLE_MS.writeback);
    } else await new WaitQueue(this.scheduler).wait(RECLAIM_THROTTLE_MS[reason]);
    task.setActivity(previous, this.scheduler.now());
  }

  /** __acct_reclaim_writeback: wake writeback sleepers once enough pages completed. */
  private writebackEnded(): void {
    this.throttledWritten++;
    const sleepers = this.writebackWait.waiters;
    if (sleepers > 0 && this.throttledWritten - this.reclaimStart > SWAP_CLUSTER_MAX * sleepers) {
      this.writebackWait.wakeAll();
    }
  }
}
