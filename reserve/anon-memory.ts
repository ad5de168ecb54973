// Anonymous memory of machine A's processes: which virtual page is resident, under
// writeback to swap, on swap, or being read back. Touches write a new version of the
// page's content; faults allocate (and may reclaim), swap-ins read from the swap device
// and verify the content. Reclaim takes victims from per-cgroup CLOCK LRUs and hands
// them to the swap device; a completed writeout leaves the page clean in the swap cache at
// the reclaim end of its LRU (folio_rotate_reclaimable), and the next scan frees it.
import type { Scheduler } from './clock.ts';
import { invariant } from './errors.ts';
import type { EventSink } from './events.ts';
import { GFP } from './gfp.ts';
import type { MemStats } from './mem-stats.ts';
import type { MemCgroup, MemcgController } from './memcg.ts';
import type {
  AllocFailReason,
  AllocRequest,
  AllocResult,
  PageAllocator,
} from './page-allocator.ts';
import { ClockLru } from './clock-lru.ts';
import { verifyPageContent } from './page-content.ts';
import type { SwapDevice } from './swap-device.ts';
import type { SwapSlots } from './swap-slots.ts';
import type { Task } from './task.ts';
import type { Zone } from './zone.ts';

/** Per-page state. */
export const ANON = {
  UNTOUCHED: 0,
  RESIDENT: 1,
  WRITEBACK: 2,
  SWAPPED: 3,
  SWAPIN: 4,
  GONE: 5,
  /**
   * Written to swap, still in memory: clean, in the swap cache, unmapped, rotated to the
   * reclaim end of its LRU (folio_end_writeback -> folio_rotate_reclaimable). A scan frees
   * it without I/O; a touch maps it back (do_swap_page finds it in the swap cache).
   */
  CLEAN: 6,
} as const;

const F_REFERENCED = 1;
/** Touched while under writeback: stays in memory when the writeout completes. */
const F_RESCUED = 2;
/** Owner exited while the page was in flight: free everything on completion. */
const F_DROP = 4;
/** The page came from the memalloc reserve. */
const F_PFMEMALLOC = 8;

/** A contiguous range of page numbers mapped by one task. */
export interface AnonRegion {
  readonly task: Task;
  readonly base: number;
  readonly count: number;
}

export type FaultOutcome =
  | 'ok'
  /** The page content came back wrong: data loss. */
  | 'integrity-error'
  /** The swap device refused the read. */
  | 'io-error'
  /** The owner was killed (OOM) or the region is gone. */
  | 'killed'
  /** The memcg charge failed. */
  | 'memcg'
  | AllocFailReason;

export class AnonMemory {
  private capacity = 0;
  private mapped = 0;
  private state = new Uint8Array(0);
  private flags = new Uint8Array(0);
  private version = new Uint32Array(0);
  private slotOf = new Int32Array(0);
  private lruOf = new Uint8Array(0);
  private ownerOf = new Int32Array(0);
  private readonly regions: AnonRegion[] = [];
  private readonly lrus: ClockLru[] = [new ClockLru()];
  private readonly swapinWaiters = new Map<number, Array<() => void>>();
  private device: SwapDevice | undefined;
  private lruCursor = 0;
  /** Anon pages allocated by a fault and not yet mapped (memcg charge or swap read in progress). */
  private faultHeld = 0;
  /** Anon pages freed by reclaim, ever (clean swap cache pages a scan freed). */
  reclaimFreedTotal = 0;
  /** Pages in state CLEAN now (written, waiting for a scan to free them). */
  cleanPages = 0;
  /** Called when a writeout completes (reclaim throttling listens). */
  onWritebackEnd: () => void = () => {};

  constructor(
    private readonly zone: Zone,
    private readonly allocator: PageAllocator,
    private readonly slots: SwapSlots,
    private readonly memcgs: MemcgController,
    private readonly scheduler: Scheduler,
    private readonly stats: MemStats,
    private readonly events: EventSink,
  ) {}

  /** Connects the swap device driver (done once, after construction). */
  attachDevice(device: SwapDevice): void {
    this.device = device;
  }

  /** Adds an LRU for a new memcg; returns its index. */
  addLru(): number {
    this.lrus.push(new ClockLru());
    return this.lrus.length - 1;
  }

  /** Maps `count` untouched pages for `task` (like an mmap of anonymous memory). */
  map(task: Task, count: number): AnonRegion {
    invariant(count > 0 && Number.isSafeInteger(count), `map: bad page count ${count}`);
    const base = this.mapped;
    this.ensureCapacity(base + count);
    this.mapped += count;
    const lru = task.memcg ? task.memcg.lruIndex : 0;
    const owner = this.regions.length;
    this.lruOf.fill(lru, base, base + count);
    this.ownerOf.fill(owner, base, base + count);
    const region = { task, base, count };
    this.regions.push(region);
    return region;
  }

  /** Pages mapped so far (the size of the page tables, not of RAM). */
  get mappedPages(): number {
    return this.mapped;
  }

  stateOf(page: number): number {
    return this.state[page] as number;
  }

  versionOf(page: number): number {
    return this.version[page] as number;
  }

  /**
   * A touch that needs no fault: resident (or under writeback, still in the swap
   * cache) pages get a new version at once. Returns false when a fault is needed.
   */
  tryTouch(page: number): boolean {
    const s = this.state[page];
    if (s === ANON.RESIDENT) {
      this.flags[page] = (this.flags[page] as number) | F_REFERENCED;
      this.version[page] = (this.version[page] as number) + 1;
      return true;
    }
    if (s === ANON.WRITEBACK) {
      this.flags[page] = (this.flags[page] as number) | F_REFERENCED | F_RESCUED;
      this.version[page] = (this.version[page] as number) + 1;
      return true;
    }
    if (s === ANON.CLEAN) {
      // A minor fault: the page is mapped again from the swap cache and dirtied, so its
      // copy on swap is stale: the slot goes (as try_to_free_swap does on a write).
      this.slots.free(this.slotOf[page] as number);
      this.slotOf[page] = -1;
      this.cleanPages--;
      this.state[page] = ANON.RESIDENT;
      this.flags[page] = (this.flags[page] as number) | F_REFERENCED;
      this.version[page] = (this.version[page] as number) + 1;
      const owner = this.ownerTask(page);
      owner.rssPages++;
      owner.swapEntries--;
      return true;
    }
    return false;
  }

  /**
   * Handles a fault on `page` for `task` and then touches it: first touch allocates a
   * zeroed page; a swapped page is allocated, read back from the swap device, verified
   * and mapped. May sleep (reclaim, swap I/O). Task context.
   */
  async fault(task: Task, page: number): Promise<FaultOutcome> {
    for (;;) {
      if (this.tryTouch(page)) return 'ok';
      if (task.killed) return 'killed';
      const s = this.state[page];
      if (s === ANON.UNTOUCHED) return this.faultFirstTouch(task, page);
      if (s === ANON.SWAPPED) return this.swapIn(task, page);
      if (s === ANON.SWAPIN) {
        await new Promise<void>((resolve) => this.waitSwapin(page, resolve));
        continue;
      }
      return 'killed';
    }
  }

  /**
   * Reclaim: picks a victim from the LRU of `memcg` (or, for global reclaim, the LRUs in
   * turn) with second chance: a referenced page loses its bit and goes to the back. Like
   * the kernel's scan priority falling to 0, it sweeps the whole list if it must, so it
   * finds a victim whenever one exists; the cost is amortised over the touches that set
   * the bits. A CLEAN page (written, rotated to the front) is returned as it is: the
   * caller frees it with freeClean(). Returns -1 when the LRUs hold no such page.
   */
  isolateVictim(memcg: MemCgroup | null): number {
    const order = memcg ? [memcg.lruIndex] : this.globalLruOrder();
    for (const index of order) {
      const lru = this.lrus[index] as ClockLru;
      // Two sweeps: the first may only clear referenced bits.
      for (let budget = 2 * lru.size; budget > 0 && lru.size > 0; budget--) {
        const page = lru.shift();
        const st = this.state[page];
        if (st === ANON.CLEAN) return page; // rotated after writeback: free it
        if (st !== ANON.RESIDENT) continue; // stale entry (owner gone)
        const f = this.flags[page] as number;
        if (f & F_REFERENCED) {
          this.flags[page] = f & ~F_REFERENCED;
          lru.push(page);
          continue;
        }
        return page;
      }
    }
    return -1;
  }

  /**
   * shrink_folio_list for a clean swap cache page: __remove_mapping and free, no I/O
   * needed (so no __GFP_IO either). Returns 1, the page this caller reclaimed.
   */
  freeClean(page: number): number {
    invariant(
      this.state[page] === ANON.CLEAN,
      () => `freeClean of page ${page} in state ${this.state[page]}`,
    );
    const f = this.flags[page] as number;
    this.state[page] = ANON.SWAPPED;
    this.flags[page] = 0;
    this.cleanPages--;
    this.allocator.free(1, 'anon', (f & F_PFMEMALLOC) !== 0);
    this.memcgs.uncharge(this.ownerTask(page).memcg, 1);
    this.stats.writebackFreed++;
    this.reclaimFreedTotal++;
    return 1;
  }

  /** Puts back a victim that could not be written out. */
  putBack(page: number): void {
    if (this.state[page] === ANON.RESIDENT)
      (this.lrus[this.lruOf[page] as number] as ClockLru).push(page);
  }

  /** Anon pages that reclaim could take (only the written, clean ones when swap is full). */
  reclaimablePages(memcg: MemCgroup | null): number {
    if (this.slots.available === 0) return memcg ? 0 : this.cleanPages;
    if (memcg) return (this.lrus[memcg.lruIndex] as ClockLru).size;
    return this.zone.pages('anon');
  }

  /**
   * Starts the writeout of an isolated victim: allocates a swap slot, moves the page
   * to writeback and queues it at the swap device. Sleeps while the device queue is
   * full (D state). Returns false (page put back) when swap is full.
   */
  async startWriteout(page: number, task: Task): Promise<boolean> {
    invariant(
      this.state[page] === ANON.RESIDENT,
      () => `writeout of page ${page} in state ${this.state[page]}`,
    );
    const device = this.device;
    invariant(device !== undefined, 'no swap device attached');
    const slot = this.slots.alloc();
    if (slot < 0) {
      this.putBack(page);
      return false;
    }
    const owner = this.ownerTask(page);
    this.state[page] = ANON.WRITEBACK;
    this.flags[page] = (this.flags[page] as number) & F_PFMEMALLOC;
    this.slotOf[page] = slot;
    this.zone.move(1, 'anon', 'writeback');
    owner.rssPages--;
    owner.swapEntries++;
    this.stats.writeoutIssued++;
    await device.submitWrite({ page, slot, version: this.version[page] as number }, task);
    return true;
  }

  /**
   * The swap device reports the end of a writeout (folio_end_writeback). On success the
   * page stays in memory, clean, and is rotated to the reclaim end of its LRU
   * (folio_rotate_reclaimable): the next scan frees it and counts it as its own progress.
   * A page touched meanwhile stays mapped; on error the page stays in memory. Duplicate or
   * stale completions are counted and ignored.
   */
  writeoutDone(page: number, slot: number, ok: boolean): void {
    if (
      page < 0 ||
      page >= this.mapped ||
      this.state[page] !== ANON.WRITEBACK ||
      this.slotOf[page] !== slot
    ) {
      this.stats.staleCompletions++;
      return;
    }
    if (ok) this.stats.writeoutCompleted++;
    else this.stats.writeoutFailed++;
    const f = this.flags[page] as number;
    const owner = this.ownerTask(page);
    const memcg = owner.memcg;
    const pf = (f & F_PFMEMALLOC) !== 0;
    if (f & F_DROP) {
      this.slots.free(slot);
      this.slotOf[page] = -1;
      this.state[page] = ANON.GONE;
      this.allocator.free(1, 'writeback', pf);
      this.memcgs.uncharge(memcg, 1);
      this.reclaimFreedTotal++;
    } else if (f & F_RESCUED || !ok) {
      this.slots.free(slot);
      this.slotOf[page] = -1;
      this.state[page] = ANON.RESIDENT;
      this.flags[page] = (f & F_PFMEMALLOC) | F_REFERENCED;
      this.zone.move(1, 'writeback', 'anon');
      owner.rssPages++;
      owner.swapEntries--;
      (this.lrus[this.lruOf[page] as number] as ClockLru).push(page);
    } else {
      this.state[page] = ANON.CLEAN;
      this.flags[page] = f & F_PFMEMALLOC;
      this.zone.move(1, 'writeback', 'anon');
      this.cleanPages++;
      (this.lrus[this.lruOf[page] as number] as ClockLru).unshift(page);
    }
    this.onWritebackEnd();
  }

  /**
   * The OOM reaper: frees every resident page of `task` at once, releases its swap
   * slots, and marks pages in flight to be dropped when their I/O ends.
   */
  reap(task: Task): number {
    let freed = 0;
    for (const region of this.regions) {
      if (region.task !== task) continue;
      for (let page = region.base; page < region.base + region.count; page++) {
        const s = this.state[page];
        const f = this.flags[page] as number;
        if (s === ANON.RESIDENT) {
          this.allocator.free(1, 'anon', (f & F_PFMEMALLOC) !== 0);
          this.memcgs.uncharge(task.memcg, 1);
          this.state[page] = ANON.GONE;
          freed++;
        } else if (s === ANON.CLEAN) {
          this.allocator.free(1, 'anon', (f & F_PFMEMALLOC) !== 0);
          this.memcgs.uncharge(task.memcg, 1);
          this.cleanPages--;
          this.slots.free(this.slotOf[page] as number);
          this.slotOf[page] = -1;
          this.state[page] = ANON.GONE;
          freed++;
        } else if (s === ANON.SWAPPED) {
          this.slots.free(this.slotOf[page] as number);
          this.slotOf[page] = -1;
          this.state[page] = ANON.GONE;
        } else if (s === ANON.WRITEBACK || s === ANON.SWAPIN) {
          this.flags[page] = f | F_DROP;
        } else if (s === ANON.UNTOUCHED) {
          this.state[page] = ANON.GONE;
        }
      }
    }
    task.rssPages = 0;
    task.swapEntries = 0;
    return freed;
  }

  /**
   * Checks that per-page states agree with the zone, the swap slots and the tasks'
   * counters. O(mapped pages): for tests and debugging, not for hot paths.
   */
  checkConsistency(): void {
    const count = [0, 0, 0, 0, 0, 0, 0];
    for (let p = 0; p < this.mapped; p++) count[this.state[p] as number]!++;
    const [, resident = 0, writeback = 0, swapped = 0, swapin = 0, , clean = 0] = count;
    invariant(
      this.cleanPages === clean,
      () => `${this.cleanPages} clean counted, page table ${clean}`,
    );
    invariant(
      this.zone.pages('writeback') === writeback,
      () => `zone has ${this.zone.pages('writeback')} writeback pages, page table ${writeback}`,
    );
    invariant(
      this.slots.used === writeback + swapped + swapin + clean,
      () =>
        `${this.slots.used} slots used for ${writeback} writeback + ${swapped} swapped + ${swapin} swapping in + ${clean} clean`,
    );
    invariant(
      this.zone.pages('anon') === resident + clean + this.faultHeld,
      () =>
        `zone has ${this.zone.pages('anon')} anon pages, page table ${resident} resident + ${clean} clean + ${this.faultHeld} in faults`,
    );
    let rss = 0;
    const seen = new Set<Task>();
    for (const r of this.regions) {
      if (seen.has(r.task)) continue;
      seen.add(r.task);
      rss += r.task.rssPages;
    }
    invariant(rss === resident, () => `tasks count ${rss} resident pages, page table ${resident}`);
  }

  private async faultFirstTouch(task: Task, page: number): Promise<FaultOutcome> {
    const now = this.allocPageNow(task);
    const got = now instanceof Promise ? await now : now;
    if (!got.ok) return got.reason;
    this.faultHeld--;
    if (this.state[page] !== ANON.UNTOUCHED) {
      // Lost a race with another fault on the same page (or the owner was reaped).
      this.allocator.free(1, 'anon', got.pfmemalloc);
      this.memcgs.uncharge(task.memcg, 1);
      return this.fault(task, page);
    }
    this.makeResident(page, got.pfmemalloc);
    this.ownerTask(page).rssPages++;
    this.version[page] = 1;
    return 'ok';
  }

  private async swapIn(task: Task, page: number): Promise<FaultOutcome> {
    const device = this.device;
    invariant(device !== undefined, 'no swap device attached');
    this.state[page] = ANON.SWAPIN;
    const finish = (): void => {
      const waiters = this.swapinWaiters.get(page);
      this.swapinWaiters.delete(page);
      if (waiters) for (const w of waiters) w();
    };
    const got = await this.allocPage(task);
    if (!got.ok) {
      this.abortSwapin(page);
      finish();
      return got.reason;
    }
    const pfmemalloc = got.pfmemalloc;
    const slot = this.slotOf[page] as number;
    const expected = this.version[page] as number;
    task.setActivity('D:swap-in', this.scheduler.now());
    const data = await device.read(slot, page, task);
    task.setActivity('running', this.scheduler.now());
    this.faultHeld--;
    const owner = this.ownerTask(page);
    if ((this.flags[page] as number) & F_DROP) {
      // The owner was reaped while we waited: drop page and slot.
      this.allocator.free(1, 'anon', pfmemalloc);
      this.memcgs.uncharge(owner.memcg, 1);
      this.slots.free(slot);
      this.slotOf[page] = -1;
      this.state[page] = ANON.GONE;
      this.flags[page] = 0;
      finish();
      return 'killed';
    }
    if (data === 'error') {
      this.stats.swapInErrors++;
      this.allocator.free(1, 'anon', pfmemalloc);
      this.memcgs.uncharge(owner.memcg, 1);
      this.abortSwapin(page);
      finish();
      return 'io-error';
    }
    this.stats.swapIns++;
    let outcome: FaultOutcome = 'ok';
    if (verifyPageContent(data, page, expected)) {
      this.stats.pagesVerified++;
    } else {
      this.stats.integrityErrors++;
      this.events({
        type: 'integrity-error',
        at: this.scheduler.now(),
        page,
        version: expected,
        slot,
      });
      outcome = 'integrity-error';
    }
    this.slots.free(slot);
    this.slotOf[page] = -1;
    owner.swapEntries--;
    owner.rssPages++;
    this.makeResident(page, pfmemalloc);
    this.version[page] = expected + 1;
    finish();
    return outcome;
  }

  /**
   * allocPage, answered without a promise when the answer is there at once: the page
   * allocator's fast path gave a page (or a final failure) and there is no cgroup to
   * charge. Most first touches end here; each await they no longer make was several
   * objects.
   */
  private allocPageNow(task: Task): AllocPageResult | Promise<AllocPageResult> {
    const req = pageRequest(task);
    const r = this.allocator.tryAlloc(req);
    if (r === undefined || task.memcg !== null) return this.allocPageRest(task, req, r);
    if (!r.ok) return { ok: false, reason: task.killed ? 'killed' : r.reason };
    this.faultHeld++;
    return r;
  }

  /** Allocates and charges one anon page for a fault. */
  private allocPage(task: Task): Promise<AllocPageResult> {
    const req = pageRequest(task);
    return this.allocPageRest(task, req, this.allocator.tryAlloc(req));
  }

  /** allocPage after the allocator's fast path answered `first`. */
  private async allocPageRest(
    task: Task,
    req: AllocRequest,
    first: AllocResult | undefined,
  ): Promise<AllocPageResult> {
    const r = first ?? (await this.allocator.alloc(req));
    if (!r.ok) return { ok: false, reason: task.killed ? 'killed' : r.reason };
    this.faultHeld++;
    if (!(await this.memcgs.charge(task.memcg, req.ctx, GFP.HIGHUSER_MOVABLE, 1, 'user'))) {
      this.faultHeld--;
      this.allocator.free(1, 'anon', r.pfmemalloc);
      return { ok: false, reason: 'memcg' };
    }
    return r;
  }

  private abortSwapin(page: number): void {
    if (this.state[page] === ANON.SWAPIN) this.state[page] = ANON.SWAPPED;
  }

  private makeResident(page: number, pfmemalloc: boolean): void {
    this.state[page] = ANON.RESIDENT;
    this.flags[page] = F_REFERENCED | (pfmemalloc ? F_PFMEMALLOC : 0);
    (this.lrus[this.lruOf[page] as number] as ClockLru).push(page);
  }

  private waitSwapin(page: number, resolve: () => void): void {
    const list = this.swapinWaiters.get(page);
    if (list) list.push(resolve);
    else this.swapinWaiters.set(page, [resolve]);
  }

  private ownerTask(page: number): Task {
    return (this.regions[this.ownerOf[page] as number] as AnonRegion).task;
  }

  /** Global reclaim visits every cgroup's LRU, starting where it left off. */
  private globalLruOrder(): number[] {
    const n = this.lrus.length;
    const start = this.lruCursor++ % n;
    const order: number[] = [];
    for (let i = 0; i < n; i++) order.push((start + i) % n);
    return order;
  }

  private ensureCapacity(needed: number): void {
    if (needed <= this.capacity) return;
    const cap = Math.max(needed, this.capacity * 2, 1024);
    const grow = <T extends Uint8Array | Uint32Array | Int32Array>(
      old: T,
      make: (n: number) => T,
    ): T => {
      const next = make(cap);
      next.set(old);
      return next;
    };
    this.state = grow(this.state, (n) => new Uint8Array(n));
    this.flags = grow(this.flags, (n) => new Uint8Array(n));
    this.version = grow(this.version, (n) => new Uint32Array(n));
    this.lruOf = grow(this.lruOf, (n) => new Uint8Array(n));
    this.ownerOf = grow(this.ownerOf, (n) => new Int32Array(n));
    const slots = new Int32Array(cap).fill(-1);
    slots.set(this.slotOf);
    this.slotOf = slots;
    this.capacity = cap;
  }
}

type AllocPageResult = { ok: true; pfmemalloc: boolean } | { ok: false; reason: FaultOutcome };

/** An anon page for `task`'s fault. */
function pageRequest(task: Task): AllocRequest {
  return { gfp: GFP.HIGHUSER_MOVABLE, ctx: { exec: 'task', task }, use: 'anon' };
}
