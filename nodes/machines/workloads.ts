// The work machine A does (DESIGN.md section 5): the hog touching anonymous memory larger
// than RAM, the service consuming B's data and touching its own pages per message (so it
// freezes while its pages are on an unreachable swap server), and an optional reader
// filling clean page cache. Each is a model task loop in model time.
import type { EmuSocket } from '../../netstack/emu-socket.ts';
import { sleep, type Scheduler } from '../../reserve/clock.ts';
import { __GFP, GFP, gfpOr } from '../../reserve/gfp.ts';
import type { MemoryModel } from '../../reserve/memory-model.ts';
import type { Rng } from '../../reserve/rng.ts';
import type { Task } from '../../reserve/task.ts';
import { WaitQueue } from '../../reserve/wait-queue.ts';
import type { AnonRegion } from '../../reserve/anon-memory.ts';

/** Outcome counters of the workloads (verdicts and metrics read these). */
export interface WorkloadStats {
  hogTouches: number;
  hogFaultFailures: number;
  serviceMessages: number;
  serviceTouches: number;
  serviceFaultFailures: number;
  /** Model time (ms) of the service's last consumed message. */
  serviceLastMessageAt: number;
  kmemHeld: number;
  readerPages: number;
}

export function newWorkloadStats(): WorkloadStats {
  return {
    hogTouches: 0,
    hogFaultFailures: 0,
    serviceMessages: 0,
    serviceTouches: 0,
    serviceFaultFailures: 0,
    serviceLastMessageAt: 0,
    kmemHeld: 0,
    readerPages: 0,
  };
}

/** A running task loop that can be asked to stop. */
export interface Workload {
  readonly tasks: readonly Task[];
  stop(): void;
}

export interface HogOptions {
  readonly tasks: number;
  readonly pages: number;
  readonly pagesPerBatch: number;
  readonly batchIntervalMs: number;
}

/**
 * The hog: `tasks` tasks, each looping over its share of `pages` anonymous pages,
 * touching every page (a fault for pages not resident). Like the validation test of
 * the swap-over-NBD series, reading anonymous mappings larger than RAM in a loop. The
 * first pass initialises the memory as fast as it can; then each task touches
 * `pagesPerBatch` pages per `batchIntervalMs` of model time (a steady swapping rate).
 * Stopping the hog ends its tasks, which frees their memory and swap.
 */
export function startHog(
  model: MemoryModel,
  scheduler: Scheduler,
  opts: HogOptions,
  stats: WorkloadStats,
): Workload {
  let stopped = false;
  const tasks: Task[] = [];
  const per = Math.floor(opts.pages / Math.max(opts.tasks, 1));
  for (let i = 0; i < opts.tasks && per > 0; i++) {
    const task = model.spawnTask(`hog${i}`);
    tasks.push(task);
    const region = model.anon.map(task, per);
    void (async () => {
      let batch = 0;
      // The first pass initialises the working set flat out (yielding between batches);
      // later passes are paced at pagesPerBatch per batchIntervalMs.
      let interval = 0;
      while (!stopped && !task.killed) {
        for (let p = region.base; p < region.base + region.count && !stopped && !task.killed; p++) {
          if (!model.anon.tryTouch(p)) {
            const outcome = await model.anon.fault(task, p);
            if (outcome !== 'ok' && outcome !== 'integrity-error') stats.hogFaultFailures++;
          }
          stats.hogTouches++;
          if (++batch >= opts.pagesPerBatch) {
            batch = 0;
            await sleep(scheduler, interval);
          }
        }
        interval = opts.batchIntervalMs;
      }
      // The process exits: its memory goes back (exit_mmap), pages in flight when
      // their I/O ends. A task asleep in D state exits only once it wakes.
      model.anon.reap(task);
      task.setActivity('exited', scheduler.now());
    })();
  }
  return {
    tasks,
    stop: () => {
      stopped = true;
    },
  };
}

export interface ServiceOptions {
  readonly pages: number;
  readonly touchesPerMessage: number;
  /** Pages at the start of the working set touched most; 0 = every page alike. */
  readonly hotPages: number;
  /** Share of touches that go anywhere in the working set (the long tail). */
  readonly coldTouchRatio: number;
  /** Pages allocated (GFP_KERNEL) and freed per message: a response buffer. */
  readonly allocPagesPerMessage: number;
  /** Per message, a GFP_NOIO | __GFP_NOFAIL kernel allocation (seed 003). */
  readonly nofail: boolean;
  /** Kernel memory allocated per message and kept for a while (charged to the memcg). */
  readonly kmemPagesPerMessage: number;
  /** How long a message's kernel memory lives (milliseconds of model time). */
  readonly kmemHoldMs: number;
}

/**
 * The service: one task that reads B's messages from every accepted socket in turn and,
 * per message, touches some of its own pages (faulting them back from swap when they
 * are out), optionally allocates kernel memory, then returns to user space (where a
 * memcg over memory.high delays it).
 */
export class Service implements Workload {
  readonly task: Task;
  readonly region: AnonRegion;
  private readonly ready = new Set<EmuSocket>();
  private readonly sockets = new Set<EmuSocket>();
  private readonly wake: WaitQueue;
  private stopped = false;
  /** Kernel pages held, oldest first: when each was allocated and whether pfmemalloc. */
  private readonly kmem: { at: number; pf: boolean; charged: boolean }[] = [];

  constructor(
    private readonly model: MemoryModel,
    private readonly scheduler: Scheduler,
    private readonly opts: ServiceOptions,
    private readonly rng: Rng,
    private readonly stats: WorkloadStats,
    memcg: Parameters<MemoryModel['spawnTask']>[1] = {},
  ) {
    this.task = model.spawnTask('service', memcg);
    this.region = model.anon.map(this.task, Math.max(1, opts.pages));
    this.wake = new WaitQueue(scheduler);
  }

  get tasks(): readonly Task[] {
    return [this.task];
  }

  /** Serves a socket a peer opened. */
  add(socket: EmuSocket): void {
    this.sockets.add(socket);
    socket.onData = () => {
      this.ready.add(socket);
      if (this.wake.waiters > 0) this.wake.wakeOne();
    };
    if (socket.queued > 0) socket.onData();
  }

  remove(socket: EmuSocket): void {
    this.sockets.delete(socket);
    this.ready.delete(socket);
  }

  /**
   * Faults the whole working set in (a service initialises its memory before it takes
   * traffic), then serves. Resolves once the working set is resident.
   */
  async start(): Promise<void> {
    const task = this.task;
    for (let p = this.region.base; p < this.region.base + this.region.count && !this.stopped; p++) {
      if (!this.model.anon.tryTouch(p)) await this.model.anon.fault(task, p);
    }
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.wake.wakeAll();
  }

  private async loop(): Promise<void> {
    const task = this.task;
    const ctx = { exec: 'task', task } as const;
    while (!this.stopped && !task.killed) {
      const socket = this.next();
      if (!socket) {
        task.setActivity('sleeping', this.scheduler.now());
        await this.wake.wait(1000);
        task.setActivity('running', this.scheduler.now());
        this.freeExpired(task);
        continue;
      }
      const msg = socket.read();
      if (!msg) continue;
      if (socket.queued > 0) this.ready.add(socket);
      this.stats.serviceMessages++;
      this.stats.serviceLastMessageAt = this.scheduler.now();
      for (let i = 0; i < this.opts.touchesPerMessage && !task.killed; i++) {
        const page = this.region.base + this.pickPage();
        if (!this.model.anon.tryTouch(page)) {
          const outcome = await this.model.anon.fault(task, page);
          if (outcome !== 'ok' && outcome !== 'integrity-error') this.stats.serviceFaultFailures++;
        }
        this.stats.serviceTouches++;
      }
      if (this.opts.allocPagesPerMessage > 0) await this.responseBuffer(ctx);
      if (this.opts.nofail) await this.nofailAllocation(ctx);
      if (this.opts.kmemPagesPerMessage > 0) await this.kmemAllocation(ctx);
      this.freeExpired(task);
      // Return to user space: memory.high's reclaim and delay happen here.
      await this.model.memcgs.handleOverHigh(task, GFP.KERNEL);
      // Serving costs a little model time, so a hot loop cannot monopolise the clock.
      await sleep(this.scheduler, 0.05);
    }
    task.setActivity('exited', this.scheduler.now());
  }

  /**
   * A page of the working set: mostly the hot set, sometimes anywhere (the long tail,
   * which reclaim pushes out to swap: a partition freezes the service on it).
   */
  private pickPage(): number {
    const hot = Math.min(this.opts.hotPages, this.region.count);
    if (hot > 0 && !this.rng.chance(this.opts.coldTouchRatio)) return this.rng.int(hot);
    return this.rng.int(this.region.count);
  }

  /** Round-robin over sockets with data. */
  private next(): EmuSocket | undefined {
    for (const s of this.ready) {
      this.ready.delete(s);
      if (!s.closed && s.queued > 0) return s;
    }
    return undefined;
  }

  /** A response buffer: GFP_KERNEL pages, freed once the message is handled. */
  private async responseBuffer(ctx: { exec: 'task'; task: Task }): Promise<void> {
    const n = this.opts.allocPagesPerMessage;
    let got = 0;
    let pf = 0;
    for (; got < n; got++) {
      const req = { gfp: GFP.KERNEL, ctx, use: 'kernel' } as const;
      const r = this.model.allocator.tryAlloc(req) ?? (await this.model.allocator.alloc(req));
      if (!r.ok) break;
      if (r.pfmemalloc) pf++;
    }
    if (got - pf > 0) this.model.allocator.free(got - pf, 'kernel', false);
    if (pf > 0) this.model.allocator.free(pf, 'kernel', true);
  }

  /**
   * An allocation that must not fail, made where reclaim may neither enter a filesystem
   * nor start IO (GFP_NOIO: a block driver's or a filesystem's IO path, memalloc_noio):
   * its reclaim cannot swap, only the writeout of others makes room. Held like the kernel
   * memory below, `kmemHoldMs` (journal or metadata memory).
   */
  private async nofailAllocation(ctx: { exec: 'task'; task: Task }): Promise<void> {
    const gfp = gfpOr(GFP.NOIO, __GFP.NOFAIL);
    const r = await this.model.allocator.alloc({ gfp, ctx, use: 'kernel' });
    if (r.ok) this.hold(r.pfmemalloc, false);
  }

  /** Keeps a kernel page until `kmemHoldMs` from now (freed by freeExpired). */
  private hold(pf: boolean, charged: boolean): void {
    this.kmem.push({ at: this.scheduler.now(), pf, charged });
    this.stats.kmemHeld++;
  }

  /** Frees the kernel pages held longer than `kmemHoldMs`. */
  private freeExpired(task: Task): void {
    const expired = this.scheduler.now() - this.opts.kmemHoldMs;
    let n = 0;
    while (n < this.kmem.length && (this.kmem[n] as { at: number }).at <= expired) n++;
    for (const { pf, charged } of this.kmem.splice(0, n)) {
      this.model.allocator.free(1, 'kernel', pf);
      if (charged) this.model.memcgs.uncharge(task.memcg, 1);
      this.stats.kmemHeld--;
    }
  }

  /**
   * Kernel memory per message, charged to the service's memcg, freed `kmemHoldMs` later
   * (what a message's kernel objects cost while they live): the memory held follows the
   * service's rate, so a service delayed by memory.high holds less.
   */
  private async kmemAllocation(ctx: { exec: 'task'; task: Task }): Promise<void> {
    for (let i = 0; i < this.opts.kmemPagesPerMessage; i++) {
      const r = await this.model.allocator.alloc({ gfp: GFP.KERNEL_ACCOUNT, ctx, use: 'kernel' });
      if (!r.ok) break;
      if (!(await this.model.memcgs.charge(ctx.task.memcg, ctx, GFP.KERNEL_ACCOUNT, 1, 'kmem'))) {
        this.model.allocator.free(1, 'kernel', r.pfmemalloc);
        break;
      }
      this.hold(r.pfmemalloc, true);
    }
  }
}

/** The reader: fills `pages` of clean page cache once. */
export function startReader(model: MemoryModel, pages: number, stats: WorkloadStats): Workload {
  const task = model.spawnTask('reader');
  void model.files.read(task, pages).then((n) => {
    stats.readerPages += n;
  });
  return { tasks: [task], stop: () => {} };
}
