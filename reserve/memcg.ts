// Memory cgroups (mm/memcontrol.c): charges in batches through a per-CPU stock,
// memory.max enforced at charge time (reclaim, retry, memcg OOM; PF_MEMALLOC,
// __GFP_HIGH and NOFAIL over-charge), memory.high enforced by reclaim and a delay at
// the return to user space. The 2015 behaviour of seed 002 is a knob: kernel memory
// is charged first without __GFP_DIRECT_RECLAIM (slab's first try), and a charge
// without it skips memory.high entirely.
import { sleep, type Scheduler } from './clock.ts';
import { invariant } from './errors.ts';
import { __GFP, GFP, gfpAllowsBlocking, gfpOr, gfpWithout, type GfpMask } from './gfp.ts';
import { currentGfpContext, type OomOutcome } from './page-allocator.ts';
import { PF, type AllocContext, type Task } from './task.ts';
import {
  HZ,
  MAX_RECLAIM_RETRIES,
  MEMCG_CHARGE_BATCH,
  PAGE_ALLOC_COSTLY_ORDER,
  SWAP_CLUSTER_MAX,
} from './units.ts';

/** What is being charged: user pages, kernel memory (slab), or socket buffers. */
export type ChargeKind = 'user' | 'kmem' | 'socket';

export interface MemcgLimits {
  readonly name: string;
  /** memory.high in pages (Infinity = "max"). */
  readonly highPages: number;
  /** memory.max in pages (Infinity = "max"). */
  readonly maxPages: number;
}

export class MemCgroup {
  readonly name: string;
  high: number;
  max: number;
  /** page_counter usage, stock included. */
  usage = 0;
  /** Pages pre-charged into the per-CPU stock and not yet used. */
  stock = 0;
  peak = 0;
  /** Clean page-cache pages charged here (for cgroup reclaim). */
  fileClean = 0;
  /** Socket buffer pages charged here now (memory.stat "sock"), part of usage. */
  socketPages = 0;
  readonly events = { high: 0, max: 0, oom: 0, oomKill: 0 };

  constructor(
    limits: MemcgLimits,
    /** Index of this cgroup's anon LRU in AnonMemory. */
    readonly lruIndex: number,
  ) {
    this.name = limits.name;
    this.high = limits.highPages;
    this.max = limits.maxPages;
  }

  /** mem_cgroup_margin: pages that can still be charged under memory.max. */
  get margin(): number {
    return Math.max(0, this.max - this.usage);
  }

  /** Charged pages in use (usage without the stock). */
  get used(): number {
    return this.usage - this.stock;
  }
}

export interface MemcgHooks {
  /**
   * try_to_free_mem_cgroup_pages: reclaim within the cgroup; pages of progress. `gfp`
   * has already been through current_gfp_context (scoped NOIO/NOFS applied).
   */
  reclaim(memcg: MemCgroup, nrPages: number, gfp: GfpMask, task: Task): Promise<number>;
  /** mem_cgroup_out_of_memory: kill a task of this cgroup. */
  outOfMemory(memcg: MemCgroup, gfp: GfpMask, order: number, task: Task): OomOutcome;
}

export interface MemcgOptions {
  /**
   * seed 002, 2015: slab charges kernel memory without __GFP_WAIT first (the caller's
   * mask only if that fails), so memory.high is never enforced for it.
   */
  readonly kmemChargeWithoutReclaim: boolean;
}

const MEMCG_DELAY_PRECISION_SHIFT = 20n;
const MEMCG_DELAY_SCALING_SHIFT = 14n;
/** The longest memory.high delay per return to user space: 2 s. */
export const MEMCG_MAX_HIGH_DELAY_JIFFIES = 2 * HZ;

/** calculate_overage: (usage - high) / high in 2^-20 units, 0 when not over. */
export function calculateOverage(usage: number, high: number): bigint {
  if (usage <= high) return 0n;
  const h = BigInt(Math.max(high, 1));
  return (BigInt(usage - high) << MEMCG_DELAY_PRECISION_SHIFT) / h;
}

/** calculate_high_delay: jiffies, growing with the square of the overage, scaled by nr_pages/64. */
export function calculateHighDelay(nrPages: number, maxOverage: bigint): number {
  if (maxOverage === 0n) return 0;
  let penalty = maxOverage * maxOverage * BigInt(HZ);
  penalty >>= MEMCG_DELAY_PRECISION_SHIFT;
  penalty >>= MEMCG_DELAY_SCALING_SHIFT;
  return Number((penalty * BigInt(nrPages)) / BigInt(MEMCG_CHARGE_BATCH));
}

export class MemcgController {
  private readonly groups: MemCgroup[] = [];
  /** Cgroups whose high_work is queued (schedule_work on a pending work is a no-op). */
  private readonly highWorkQueued = new Set<MemCgroup>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly hooks: MemcgHooks,
    private readonly options: MemcgOptions,
    /** The kworker that runs high_work for charges from softirq. */
    private readonly worker: Task,
  ) {}

  /** Creates a cgroup; `lruIndex` is its anon LRU. */
  create(limits: MemcgLimits, lruIndex: number): MemCgroup {
    invariant(
      limits.highPages > 0 && limits.maxPages > 0,
      `memcg ${limits.name}: limits must be positive`,
    );
    const g = new MemCgroup(limits, lruIndex);
    this.groups.push(g);
    return g;
  }

  all(): readonly MemCgroup[] {
    return this.groups;
  }

  /**
   * try_charge_memcg: charges `nrPages` to `memcg`. May sleep in cgroup reclaim when
   * the (effective) gfp mask allows blocking. Resolves false when the charge fails.
   */
  async charge(
    memcg: MemCgroup | null,
    ctx: AllocContext,
    gfp: GfpMask,
    nrPages: number,
    kind: ChargeKind,
  ): Promise<boolean> {
    if (!memcg) return true;
    if (kind === 'kmem' && this.options.kmemChargeWithoutReclaim && gfpAllowsBlocking(gfp)) {
      // 2015: SLAB and SLUB tried the allocation (and so the charge) without __GFP_WAIT
      // (and without __GFP_NOFAIL) first; only when that failed did they retry with the
      // caller's mask.
      const noWait = gfpWithout(gfp, gfpOr(__GFP.DIRECT_RECLAIM, __GFP.NOFAIL));
      if (await this.tryCharge(memcg, ctx, noWait, nrPages)) return true;
    }
    return this.tryCharge(memcg, ctx, gfp, nrPages);
  }

  private async tryCharge(
    memcg: MemCgroup,
    ctx: AllocContext,
    gfp: GfpMask,
    nrPages: number,
  ): Promise<boolean> {
    const task = ctx.task;
    let batch = Math.max(MEMCG_CHARGE_BATCH, nrPages);
    let retries = MAX_RECLAIM_RETRIES;
    let drained = false;
    let passedOom = false;
    let raisedMax = false;
    let force = false;
    for (;;) {
      // consume_stock: no page_counter update, and no memory.high check either.
      if (memcg.stock >= nrPages) {
        memcg.stock -= nrPages;
        return true;
      }
      if (memcg.usage + batch <= memcg.max) {
        this.raise(memcg, batch);
        if (batch > nrPages) this.refillStock(memcg, batch - nrPages);
        await this.afterCharge(memcg, ctx, gfp, batch);
        return true;
      }
      if (batch > nrPages) {
        batch = nrPages;
        continue;
      }
      // Reclaim that needs memory must not recurse into reclaim: over-charge instead.
      if (task.flags & PF.MEMALLOC) {
        force = true;
        break;
      }
      if (!gfpAllowsBlocking(gfp) || ctx.exec !== 'task') break;
      if (!raisedMax) {
        memcg.events.max++;
        raisedMax = true;
      }
      const reclaimed = await this.hooks.reclaim(
        memcg,
        nrPages,
        currentGfpContext(gfp, task),
        task,
      );
      if (memcg.margin >= nrPages) continue;
      if (!drained) {
        this.drainStock(memcg);
        drained = true;
        continue;
      }
      if (gfp & __GFP.NORETRY) break;
      if (reclaimed > 0 && nrPages <= 1 << PAGE_ALLOC_COSTLY_ORDER) continue;
      if (retries-- > 0) continue;
      if (gfp & __GFP.RETRY_MAYFAIL) break;
      if (passedOom && task.killed) break;
      // mem_cgroup_oom: no OOM kill for costly orders.
      const order = Math.ceil(Math.log2(nrPages));
      if (order <= PAGE_ALLOC_COSTLY_ORDER) {
        memcg.events.oom++;
        const outcome = this.hooks.outOfMemory(memcg, gfp, order, task);
        if (outcome === 'killed' || outcome === 'current-dying') {
          passedOom = true;
          retries = MAX_RECLAIM_RETRIES;
          continue;
        }
      }
      break;
    }
    // nomem: memcg has no atomic reserve; PF_MEMALLOC, __GFP_HIGH and NOFAIL go through
    // over the limit (force, which raises MEMCG_MAX if reclaim did not).
    if (!force && !(gfp & (__GFP.NOFAIL | __GFP.HIGH))) return false;
    if (!raisedMax) memcg.events.max++;
    this.raise(memcg, nrPages);
    return true;
  }

  /**
   * mem_cgroup_charge_skmem for a socket of `memcg`, from __sk_mem_raise_allocated once
   * tcp_mem admitted the charge. Never sleeps: a receive charge runs in softirq, where
   * gfp_memcg_charge() is GFP_ATOMIC (6.1+), so over memory.max it over-charges instead
   * of failing, and over memory.high it queues the cgroup's high_work (reclaim from a
   * kworker) rather than touch the interrupted task. Send charges take the same path
   * here (their task-context reclaim is not modelled). Always true.
   */
  chargeSkmem(memcg: MemCgroup | null, nrPages: number): boolean {
    if (!memcg || nrPages <= 0) return true;
    if (memcg.usage + nrPages > memcg.max) memcg.events.max++;
    this.raise(memcg, nrPages);
    memcg.socketPages += nrPages;
    if (memcg.usage > memcg.high) this.queueHighWork(memcg);
    return true;
  }

  /** mem_cgroup_uncharge_skmem: socket buffer pages given back. */
  unchargeSkmem(memcg: MemCgroup | null, nrPages: number): void {
    if (!memcg || nrPages <= 0) return;
    invariant(
      memcg.socketPages >= nrPages,
      () => `memcg ${memcg.name}: uncharging ${nrPages} socket pages of ${memcg.socketPages}`,
    );
    memcg.socketPages -= nrPages;
    this.uncharge(memcg, nrPages);
  }

  /** Uncharges `nrPages` (pages freed). */
  uncharge(memcg: MemCgroup | null, nrPages: number): void {
    if (!memcg) return;
    invariant(
      memcg.used >= nrPages,
      () => `memcg ${memcg.name}: uncharging ${nrPages} of ${memcg.used}`,
    );
    memcg.usage -= nrPages;
  }

  /**
   * mem_cgroup_handle_over_high, at the return to user space: reclaim the task's
   * overage, then sleep a penalty growing with the square of the overage (at most 2 s).
   * memory.high never triggers OOM.
   */
  async handleOverHigh(task: Task, gfp: GfpMask): Promise<void> {
    const nrPages = task.memcgPagesOverHigh;
    const memcg = task.memcg;
    if (nrPages === 0 || !memcg) return;
    task.memcgPagesOverHigh = 0;
    let retries = MAX_RECLAIM_RETRIES;
    let inRetry = false;
    for (;;) {
      if (task.killed) return;
      const reclaimed = await this.reclaimHigh(
        memcg,
        inRetry ? SWAP_CLUSTER_MAX : nrPages,
        gfp,
        task,
      );
      const penalty = Math.min(
        calculateHighDelay(nrPages, calculateOverage(memcg.usage, memcg.high)),
        MEMCG_MAX_HIGH_DELAY_JIFFIES,
      );
      if (penalty <= HZ / 100) return;
      if (reclaimed > 0 || retries-- > 0) {
        inRetry = true;
        continue;
      }
      task.setActivity('D:memcg-high', this.scheduler.now());
      await sleep(this.scheduler, penalty);
      task.setActivity('running', this.scheduler.now());
      return;
    }
  }

  private async afterCharge(
    memcg: MemCgroup,
    ctx: AllocContext,
    gfp: GfpMask,
    batch: number,
  ): Promise<void> {
    if (memcg.usage <= memcg.high) return;
    // 2015: `if (!(gfp_mask & __GFP_WAIT)) goto done;` before any memory.high handling.
    if (this.options.kmemChargeWithoutReclaim && !gfpAllowsBlocking(gfp)) return;
    const task = ctx.task;
    if (ctx.exec !== 'task') {
      this.queueHighWork(memcg);
      return;
    }
    task.memcgPagesOverHigh += batch;
    // Also reclaim synchronously to avoid excessive overrun while still in the kernel.
    if (
      task.memcgPagesOverHigh > MEMCG_CHARGE_BATCH &&
      !(task.flags & PF.MEMALLOC) &&
      gfpAllowsBlocking(gfp)
    ) {
      await this.handleOverHigh(task, gfp);
    }
  }

  /**
   * Do not bother a random interrupted task: high_work (one work item per cgroup, queued
   * at most once) reclaims asynchronously with GFP_KERNEL.
   */
  private queueHighWork(memcg: MemCgroup): void {
    if (this.highWorkQueued.has(memcg)) return;
    this.highWorkQueued.add(memcg);
    this.scheduler.schedule(0, () => {
      this.highWorkQueued.delete(memcg);
      void this.reclaimHigh(memcg, MEMCG_CHARGE_BATCH, GFP.KERNEL, this.worker);
    });
  }

  /** reclaim_high: reclaim only while over memory.high; each pass is a MEMCG_HIGH event. */
  private async reclaimHigh(
    memcg: MemCgroup,
    nrPages: number,
    gfp: GfpMask,
    task: Task,
  ): Promise<number> {
    if (memcg.usage <= memcg.high) return 0;
    memcg.events.high++;
    return this.hooks.reclaim(memcg, nrPages, currentGfpContext(gfp, task), task);
  }

  private raise(memcg: MemCgroup, n: number): void {
    memcg.usage += n;
    if (memcg.usage > memcg.peak) memcg.peak = memcg.usage;
  }

  /** refill_stock: keep at most one batch pre-charged, give the rest back. */
  private refillStock(memcg: MemCgroup, n: number): void {
    memcg.stock += n;
    if (memcg.stock > MEMCG_CHARGE_BATCH) this.drainStock(memcg);
  }

  private drainStock(memcg: MemCgroup): void {
    memcg.usage -= memcg.stock;
    memcg.stock = 0;
  }
}
