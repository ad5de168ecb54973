// throttle_direct_reclaim (mm/vmscan.c, added with swap over NBD in 3.6): when free
// pages fall to half the min watermark, direct reclaimers sleep on pfmemalloc_wait so
// that the reserve is left to PF_MEMALLOC tasks (the swap writeout path). With
// __GFP_FS they sleep until kswapd's progress wakes them; without, at most 1 s.
import type { Scheduler } from './clock.ts';
import { __GFP, type GfpMask } from './gfp.ts';
import type { MemStats } from './mem-stats.ts';
import type { DirectReclaimThrottle } from './reclaim.ts';
import type { Task } from './task.ts';
import { HZ, MAX_RECLAIM_RETRIES } from './units.ts';
import { WaitQueue } from './wait-queue.ts';
import type { Zone } from './zone.ts';

/** What the throttle needs to know about kswapd. */
export interface KswapdState {
  /** kswapd_failures. */
  failures(): number;
  /** Whether kswapd sleeps on kswapd_wait. */
  sleeping(): boolean;
  /** wake_up_interruptible(&pgdat->kswapd_wait), no balance check. */
  kick(): void;
}

export class PfmemallocThrottle implements DirectReclaimThrottle {
  /** pgdat->pfmemalloc_wait. */
  readonly wait: WaitQueue;

  constructor(
    private readonly zone: Zone,
    private readonly kswapd: KswapdState,
    private readonly scheduler: Scheduler,
    private readonly stats: MemStats,
    /** Reclaimable pages now (a zone with none is not counted). */
    private readonly reclaimable: () => number,
    /** Off = the era or policy has no pfmemalloc throttle (before 3.6). */
    readonly enabled: boolean,
  ) {
    this.wait = new WaitQueue(scheduler);
  }

  /**
   * allow_direct_reclaim: free pages above half the sum of the min watermarks, or
   * kswapd has given up. Wakes kswapd when not ok.
   */
  allowDirectReclaim(): boolean {
    if (this.kswapd.failures() >= MAX_RECLAIM_RETRIES) return true;
    if (this.reclaimable() === 0) return true;
    const reserve = this.zone.watermarks.min;
    if (reserve === 0) return true;
    const ok = this.zone.free > reserve / 2;
    if (!ok && this.kswapd.sleeping()) this.kswapd.kick();
    return ok;
  }

  /**
   * Sleeps the direct reclaimer while allow_direct_reclaim() is false. Task context.
   * True only when a fatal signal arrived while throttled; a task that already had one
   * pending is not throttled and goes on to reclaim (false), as in the kernel since 3.8.
   */
  async throttleDirectReclaim(task: Task, gfp: GfpMask): Promise<boolean> {
    if (!this.enabled || task.isKthread) return false;
    if (task.killed) return false;
    if (this.allowDirectReclaim()) return false;
    this.stats.directReclaimThrottled++;
    const previous = task.activity;
    task.setActivity('D:pfmemalloc-throttle', this.scheduler.now());
    if (!(gfp & __GFP.FS)) {
      // Without __GFP_FS the caller may hold filesystem locks: sleep at most HZ.
      await this.wait.waitEvent(() => this.allowDirectReclaim(), HZ);
    } else {
      await this.wait.waitEvent(() => this.allowDirectReclaim() || task.killed);
    }
    task.setActivity(previous, this.scheduler.now());
    return task.killed;
  }

  /** kswapd made progress: wake the throttled if the reserve is safe again. */
  kswapdProgress(): void {
    if (this.wait.waiters > 0 && this.allowDirectReclaim()) this.wait.wakeAll();
  }

  /** kswapd goes to sleep (prepare_kswapd_sleep): wake everyone to recheck. */
  kswapdSleeping(): void {
    if (this.wait.waiters > 0) this.wait.wakeAll();
  }
}
