// kswapd, the background reclaimer: woken when an allocation falls below the low
// watermark, reclaims until free pages are above the high watermark, then sleeps; while
// the node is neither balanced nor hopeless it goes straight back to reclaim without
// sleeping. After 16 consecutive runs that freed nothing it sleeps and is no longer
// woken (the node is "hopeless") until some reclaim makes progress again.
import type { Scheduler } from './clock.ts';
import type { EventSink } from './events.ts';
import { GFP } from './gfp.ts';
import type { MemStats } from './mem-stats.ts';
import type { Reclaimer } from './reclaim.ts';
import type { Task } from './task.ts';
import { MAX_RECLAIM_RETRIES, SWAP_CLUSTER_MAX } from './units.ts';
import { WaitQueue } from './wait-queue.ts';
import type { Zone } from './zone.ts';

export class Kswapd {
  /** kswapd_failures: consecutive runs that reclaimed nothing. */
  failures = 0;
  private readonly sleepQueue: WaitQueue;
  private asleep = false;
  private stopped = true;
  /** Called after each reclaim pass. */
  onProgress: () => void = () => {};
  /** Called at every prepare_kswapd_sleep, whether kswapd then sleeps or not. */
  onSleep: () => void = () => {};

  constructor(
    private readonly zone: Zone,
    private readonly reclaimer: Reclaimer,
    readonly task: Task,
    private readonly scheduler: Scheduler,
    private readonly stats: MemStats,
    private readonly events: EventSink,
  ) {
    this.sleepQueue = new WaitQueue(scheduler);
  }

  /** Some reclaim (direct or kswapd) freed pages: the node is not hopeless. */
  noteReclaimProgress(): void {
    this.failures = 0;
  }

  get sleeping(): boolean {
    return this.asleep;
  }

  /** Starts the kswapd loop (it sleeps until woken). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.loop();
  }

  /** Stops the loop at its next sleep. */
  stop(): void {
    this.stopped = true;
    this.sleepQueue.wakeAll();
  }

  /**
   * wakeup_kswapd: wakes a sleeping kswapd unless the node is balanced (free above
   * high) or hopeless (16 failed runs).
   */
  wake(): void {
    if (!this.asleep) return;
    if (this.failures >= MAX_RECLAIM_RETRIES) return;
    if (this.balanced()) return;
    this.kick();
  }

  /** wake_up_interruptible(&pgdat->kswapd_wait): wakes a sleeping kswapd, no balance check. */
  kick(): void {
    if (!this.asleep) return;
    this.stats.kswapdWakeups++;
    this.asleep = false;
    this.sleepQueue.wakeAll();
  }

  /** pgdat_balanced: free pages above the high watermark. */
  balanced(): boolean {
    return this.zone.free > this.zone.watermarks.high;
  }

  /**
   * The kswapd thread: kswapd_try_to_sleep, then balance_pgdat. At start it sleeps until
   * the first wakeup (a freshly booted node is balanced).
   */
  private async loop(): Promise<void> {
    let first = true;
    while (!this.stopped) {
      // prepare_kswapd_sleep wakes the pfmemalloc_wait sleepers to recheck, and lets
      // kswapd sleep only when the node is hopeless or balanced; otherwise it returns
      // to balance_pgdat at once (KSWAPD_HIGH_WMARK_HIT_QUICKLY).
      this.onSleep();
      if (first || this.failures >= MAX_RECLAIM_RETRIES || this.balanced()) {
        first = false;
        this.asleep = true;
        this.task.setActivity('sleeping', this.scheduler.now());
        await this.sleepQueue.wait();
        this.asleep = false;
        if (this.stopped) break;
      }
      this.task.setActivity('running', this.scheduler.now());
      await this.balancePgdat();
    }
    this.asleep = false;
    this.task.setActivity('exited', this.scheduler.now());
  }

  /**
   * balance_pgdat: reclaim until balanced or a pass makes no progress. A pass that frees
   * nothing while pages are under writeback stalls for them (shrink_node's
   * reclaim_throttle(WRITEBACK) on nr_immediate) and tries once more: completed pages
   * wait at the reclaim end of the LRU for that scan. kswapd_failures counts runs that
   * reclaimed nothing themselves.
   */
  private async balancePgdat(): Promise<void> {
    this.stats.kswapdRuns++;
    let runReclaimed = 0;
    while (!this.stopped && !this.balanced()) {
      const pass = () =>
        this.reclaimer.shrink({
          nrToReclaim: Math.max(SWAP_CLUSTER_MAX, this.zone.watermarks.high - this.zone.free),
          gfp: GFP.KERNEL,
          task: this.task,
          memcg: null,
          kswapd: true,
        });
      let reclaimed = await pass();
      this.onProgress();
      if (reclaimed === 0) {
        await this.reclaimer.throttleNoProgress('kswapd', this.task);
        if (this.stopped) break;
        reclaimed = await pass();
        this.onProgress();
        if (reclaimed === 0) break;
      }
      runReclaimed += reclaimed;
    }
    if (runReclaimed === 0 && !this.balanced()) {
      this.failures++;
      if (this.failures === MAX_RECLAIM_RETRIES) {
        this.events({ type: 'kswapd-gave-up', at: this.scheduler.now(), failures: this.failures });
      }
    } else if (runReclaimed > 0) {
      this.failures = 0;
    }
  }
}
