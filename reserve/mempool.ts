// mempool (mm/mempool.c): a pool of preallocated elements that guarantees forward
// progress to callers that may block. Elements here are pages held in the 'kernel'
// state (dm-crypt's bounce pages, seed 000). The strategy knob compares the kernel's
// order with the alternatives argued over in seed 000.
import type { Scheduler } from './clock.ts';
import { invariant } from './errors.ts';
import { __GFP, GFP, gfpAllowsBlocking, gfpOr, gfpWithout, type GfpMask } from './gfp.ts';
import type { AllocRequest, PageAllocator } from './page-allocator.ts';
import type { AllocContext } from './task.ts';
import { HZ } from './units.ts';
import { WaitQueue } from './wait-queue.ts';

/**
 * - `kernel`: the allocator first without direct reclaim and I/O, then the pool, then the
 *   allocator with the full mask, then sleep on pool->wait (up to 5 s) and start over.
 * - `pool-first`: take a preallocated element first (Neil Brown's preference).
 * - `allocator-reclaim`: the allocator with direct reclaim allowed from the first try,
 *   so it can dive into reclaim and its throttling (what seed 000 complains about).
 * - `no-reclaim`: never direct reclaim: the allocator without it, the pool, then wait on
 *   pool->wait for an element to come back.
 * - `less-throttle`: the kernel's order; the caller is exempt from throttle_vm_writeout
 *   (PF_LESS_THROTTLE, set on the task by its owner, seed 000's 2016 proposal).
 */
export const MEMPOOL_STRATEGIES = [
  'kernel',
  'pool-first',
  'allocator-reclaim',
  'no-reclaim',
  'less-throttle',
] as const;
export type MempoolStrategy = (typeof MEMPOOL_STRATEGIES)[number];

/** How long mempool_alloc sleeps on pool->wait before trying again: 5*HZ. */
export const MEMPOOL_WAIT_MS = 5 * HZ;

export interface MempoolStats {
  fromAllocator: number;
  fromPool: number;
  waits: number;
  waitTimeouts: number;
  nulls: number;
}

export class Mempool {
  readonly minNr: number;
  readonly strategy: MempoolStrategy;
  /** Elements in the pool now (curr_nr). */
  curr = 0;
  readonly wait: WaitQueue;
  readonly stats: MempoolStats = {
    fromAllocator: 0,
    fromPool: 0,
    waits: 0,
    waitTimeouts: 0,
    nulls: 0,
  };

  constructor(
    private readonly allocator: PageAllocator,
    private readonly scheduler: Scheduler,
    options: { minNr: number; strategy?: MempoolStrategy },
  ) {
    this.strategy = options.strategy ?? 'kernel';
    invariant(
      Number.isSafeInteger(options.minNr) && options.minNr >= 0,
      `mempool min_nr ${options.minNr}`,
    );
    this.minNr = options.minNr;
    this.wait = new WaitQueue(scheduler);
  }

  /**
   * mempool_create: preallocates min_nr elements with GFP_KERNEL. Task context, may
   * sleep. Resolves false if memory ran out (the pool is then partly filled).
   */
  async fill(ctx: AllocContext): Promise<boolean> {
    while (this.curr < this.minNr) {
      const r = await this.allocator.alloc({ gfp: GFP.KERNEL, ctx, use: 'kernel' });
      if (!r.ok) return false;
      this.curr++;
    }
    return true;
  }

  /**
   * mempool_alloc: returns true with one element, or false only for a caller that
   * cannot block. A caller that may block never fails: it sleeps on pool->wait.
   */
  async alloc(ctx: AllocContext, gfpIn: GfpMask): Promise<boolean> {
    // Never the emergency reserve, never loop in the allocator, failures are fine.
    const gfp = gfpOr(gfpIn, __GFP.NOMEMALLOC, __GFP.NORETRY, __GFP.NOWARN);
    let gfpTemp =
      this.strategy === 'allocator-reclaim'
        ? gfp
        : gfpWithout(gfp, gfpOr(__GFP.DIRECT_RECLAIM, __GFP.IO));
    for (;;) {
      if (this.strategy === 'pool-first' && this.takeElement()) return true;
      const req: AllocRequest = { gfp: gfpTemp, ctx, use: 'kernel' };
      const r = this.allocator.tryAlloc(req) ?? (await this.allocator.alloc(req));
      if (r.ok) {
        this.stats.fromAllocator++;
        return true;
      }
      if (this.takeElement()) return true;
      // The first round was without direct reclaim and I/O: retry at once with the full mask.
      if (gfpTemp !== gfp && this.strategy !== 'no-reclaim') {
        gfpTemp = gfp;
        continue;
      }
      if (!gfpAllowsBlocking(gfp)) {
        this.stats.nulls++;
        return false;
      }
      // Wait for someone to return an element (FIXME in the kernel: the 5 s timeout).
      this.stats.waits++;
      const previous = ctx.task.activity;
      ctx.task.setActivity('D:mempool-wait', this.scheduler.now());
      const outcome = await this.wait.wait(MEMPOOL_WAIT_MS);
      ctx.task.setActivity(previous, this.scheduler.now());
      if (outcome === 'timeout') this.stats.waitTimeouts++;
      if (this.strategy !== 'no-reclaim') gfpTemp = gfp;
    }
  }

  /**
   * mempool_free: refill the pool first while it holds fewer than min_nr (and wake a
   * waiter); otherwise give the page back to the allocator. Any context.
   */
  free(): void {
    if (this.curr < this.minNr) {
      this.curr++;
      this.wait.wakeAll();
      return;
    }
    this.allocator.free(1, 'kernel', false);
  }

  private takeElement(): boolean {
    if (this.curr === 0) return false;
    this.curr--;
    this.stats.fromPool++;
    invariant(
      this.curr >= 0 && this.curr <= this.minNr,
      () => `mempool holds ${this.curr} of ${this.minNr}`,
    );
    return true;
  }
}
