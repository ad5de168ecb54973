// The "dynamic reserve" (seed 001, kernel-reference.md 8): instead of a static reserve
// below the min watermark, a small cache of pages that reserve users take from. A
// worker refills it from a clean context (GFP_KERNEL | __GFP_NORETRY |
// __GFP_NOMEMALLOC | __GFP_NOWARN). An empty cache is an emergency: the cache grows
// for the near future and shrinks back later. When the shrinker asks for memory, the
// cache is drained and refills are limited to one page with a 5000 ms back-off.
import { sleep, type Scheduler, type Timer } from './clock.ts';
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
  private backoffUntil = -Infinity;
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

  /** The shrinker: memory pressure drains the cache and starts the refill back-off. */
  scan(): number {
    const freed = this.cached;
    if (freed > 0) {
      this.zone.give(freed, 'kernel', false);
      this.cached = 0;
    }
    this.backoffUntil = this.scheduler.now() + this.options.backoffMs;
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

  private kickRefill(): void {
    if (this.refillRunning || this.stopped || !this.allocator || this.cached >= this.target) return;
    this.refillRunning = true;
    this.scheduler.schedule(0, () => void this.refill());
  }

  /** The refill work item: runs in the worker's clean context. */
  private async refill(): Promise<void> {
    const allocator = this.allocator;
    try {
      while (allocator && !this.stopped && this.cached < this.target) {
        const now = this.scheduler.now();
        const backingOff = now < this.backoffUntil;
        const want = backingOff
          ? Math.min(1, this.target - this.cached)
          : this.target - this.cached;
        let got = 0;
        for (let i = 0; i < want; i++) {
          const req = {
            gfp: REFILL_GFP,
            ctx: { exec: 'task', task: this.worker },
            use: 'kernel',
          } as const;
          const r = allocator.tryAlloc(req) ?? (await allocator.alloc(req));
          if (!r.ok) break;
          this.cached++;
          got++;
        }
        if (got < want || backingOff) {
          // Failed or limited: try again after the back-off.
          const delay = Math.max(
            this.backoffUntil - this.scheduler.now(),
            this.options.backoffMs / 10,
          );
          await sleep(this.scheduler, delay);
        }
      }
    } finally {
      this.refillRunning = false;
    }
  }
}
