// The "dynamic reserve" (seed 001, kernel-reference.md 8): instead of a static reserve
// below the min watermark, a small cache of pages that reserve users take from. A
// worker refills it from a clean context (GFP_KERNEL | __GFP_NORETRY |
// __GFP_NOMEMALLOC | __GFP_NOWARN) each time a reserve user takes a page or finds the
// cache empty; a refill stops at its first failure. An empty cache is an emergency:
// the cache grows for the near future and shrinks back later. When the shrinker asks
// what it holds (every global reclaim pass), the next refill waits 5000 ms and takes
// one page; when reclaim has scanned enough to call its scan, the cache is drained.
import type { Scheduler, Timer } from './clock.ts';
import { invariant } from './errors.ts';
import type { EventSink } from './events.ts';
import { __GFP, GFP, gfpOr } from './gfp.ts';
import type { PageAllocator } from './page-allocator.ts';
import type { ReserveStrategy } from './reserve-strategy.ts';
import type { Task } from './task.ts';
import type { PageState, PageUse, Zone } from './zone.ts';

export interface EmergencyCacheOptions {
  /** Pages kept in normal times (rcu_min_cached_objs is 5). */
  readonly basePages: number;
  /** The most the cache grows to after emergencies. */
  readonly maxPages: number;
  /** How long after the last emergency the grown size is kept. */
  readonly shrinkAfterMs: number;
  /** Refill back-off after the shrinker drained the cache (rcu_delay_page_cache_fill_msec). */
  readonly backoffMs: number;
}

export const DEFAULT_EMERGENCY_CACHE: EmergencyCacheOptions = {
  basePages: 5,
  maxPages: 512,
  shrinkAfterMs: 10_000,
  backoffMs: 5000,
};

/** The worker's allocation mask: a clean context that never touches the reserve. */
const REFILL_GFP = gfpOr(GFP.KERNEL, __GFP.NORETRY, __GFP.NOMEMALLOC, __GFP.NOWARN);

export class EmergencyPageCache implements ReserveStrategy {
  readonly kind = 'dynamic';
  /** Pages in the cache now (held in the 'kernel' state). */
  cached = 0;
  /** What the worker fills up to. */
  target: number;
  emergencies = 0;
  private lastEmergencyAt = -Infinity;
  /** backoff_page_cache_fill: set by the shrinker, cleared when a refill work item ends. */
  private backoff = false;
  /** work_in_progress: a refill work item is queued or running. */
  private refillRunning = false;
  private shrinkTimer: Timer | undefined;
  private allocator: PageAllocator | undefined;
  private stopped = false;

  constructor(
    private readonly zone: Zone,
    private readonly scheduler: Scheduler,
    private readonly events: EventSink,
    /** The kworker that refills the cache. */
    private readonly worker: Task,
    readonly options: EmergencyCacheOptions = DEFAULT_EMERGENCY_CACHE,
  ) {
    invariant(
      options.basePages >= 0 && options.maxPages >= options.basePages,
      'emergency cache: bad sizes',
    );
    this.target = options.basePages;
  }

  /** Connects the allocator the worker refills from, and starts the first fill. */
  attach(allocator: PageAllocator): void {
    this.allocator = allocator;
    this.kickRefill();
  }

  /** Stops the refill worker and the shrink-back timer. */
  stop(): void {
    this.stopped = true;
    this.shrinkTimer?.cancel();
  }

  sizePages(): number {
    return this.target;
  }

  take(n: number, use: PageUse): boolean {
    if (this.cached >= n) {
      this.cached -= n;
      this.zone.move(n, 'kernel', use);
      this.zone.notePfmemalloc(n);
      this.kickRefill();
      return true;
    }
    // Emergency: grow for the near future, and ask the worker for pages.
    this.emergencies++;
    this.lastEmergencyAt = this.scheduler.now();
    this.target = Math.min(this.options.maxPages, Math.max(1, this.target * 2));
    this.events({ type: 'reserve-emergency', at: this.lastEmergencyAt, strategy: this.kind });
    this.scheduleShrinkBack();
    this.kickRefill();
    return false;
  }

  release(n: number, from: Exclude<PageState, 'free'>): void {
    // Like mempool_free: refill the cache before giving memory back.
    const keep = Math.min(n, Math.max(0, this.target - this.cached));
    if (keep > 0) {
      this.zone.move(keep, from, 'kernel');
      this.zone.clearPfmemalloc(keep);
      this.cached += keep;
    }
    if (n - keep > 0) this.zone.give(n - keep, from, true);
  }

  readonly seeks = 2;

  /**
   * kfree_rcu_shrink_count: what the cache holds. Being asked is enough to set the
   * refill back-off (the next refill waits 5000 ms and takes one page).
   */
  count(): number {
    this.backoff = true;
    return this.cached;
  }

  /**
   * kfree_rcu_shrink_scan: drains the whole cache back to the zone (drain_page_cache)
   * whatever `n` asks for. Any context, never sleeps. Returns pages freed.
   */
  scan(_n = Infinity): number {
    const freed = this.cached;
    if (freed > 0) {
      this.zone.give(freed, 'kernel', false);
      this.cached = 0;
    }
    this.backoff = true;
    return freed;
  }

  private scheduleShrinkBack(): void {
    this.shrinkTimer?.cancel();
    this.shrinkTimer = this.scheduler.schedule(this.options.shrinkAfterMs, () => {
      this.shrinkTimer = undefined;
      if (this.scheduler.now() - this.lastEmergencyAt < this.options.shrinkAfterMs) return;
      this.target = this.options.basePages;
      const excess = this.cached - this.target;
      if (excess > 0) {
        this.zone.give(excess, 'kernel', false);
        this.cached -= excess;
      }
    });
  }

  /**
   * run_page_cache_worker: queues the refill work item unless one is queued or running.
   * After the shrinker asked for memory back, the work is delayed by the back-off.
   */
  private kickRefill(): void {
    if (this.refillRunning || this.stopped || !this.allocator || this.cached >= this.target) return;
    this.refillRunning = true;
    const delay = this.backoff ? this.options.backoffMs : 0;
    this.scheduler.schedule(delay, () => void this.refill());
  }

  /**
   * fill_page_cache_func: the refill work item, in the worker's clean context. Tops the
   * cache up to its target, or adds one page while backing off; stops at the first
   * failure. Clears the back-off when done (even if its own reclaim set it again).
   */
  private async refill(): Promise<void> {
    const allocator = this.allocator;
    try {
      // Backing off: one page more (fill_page_cache_func's nr_pages = 1); else up to target.
      const want = this.backoff ? Math.min(this.cached + 1, this.target) : this.target;
      const req = {
        gfp: REFILL_GFP,
        ctx: { exec: 'task', task: this.worker },
        use: 'kernel',
      } as const;
      for (let i = this.cached; allocator && !this.stopped && i < want; i++) {
        const r = allocator.tryAlloc(req) ?? (await allocator.alloc(req));
        if (!r.ok) break;
        if (this.cached >= this.target) {
          // Filled meanwhile (a pfmemalloc page came back): free the page and stop.
          this.zone.give(1, 'kernel', false);
          break;
        }
        this.cached++;
      }
    } finally {
      this.backoff = false;
      this.refillRunning = false;
    }
  }
}
