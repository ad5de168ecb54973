// Machine A's memory, assembled: the zone, the allocator with its reserve, kswapd,
// direct reclaim and its throttles, the OOM killer, anonymous memory with swap, the
// page cache and memory cgroups. Pure: time comes from the injected scheduler, and
// everything notable is reported through the injected event sink.
import { AnonMemory } from './anon-memory.ts';
import type { Scheduler } from './clock.ts';
import {
  DEFAULT_EMERGENCY_CACHE,
  EmergencyPageCache,
  type EmergencyCacheOptions,
} from './emergency-page-cache.ts';
import { invariant } from './errors.ts';
import { ignoreEvents, type EventSink } from './events.ts';
import { FileCache } from './file-cache.ts';
import { Kswapd } from './kswapd.ts';
import { MemStats } from './mem-stats.ts';
import { MemcgController, type MemCgroup, type MemcgLimits } from './memcg.ts';
import { OomKiller } from './oom-killer.ts';
import { PageAllocator, type AllocatorHooks } from './page-allocator.ts';
import { PfmemallocThrottle, type KswapdState } from './pfmemalloc-throttle.ts';
import { Reclaimer, type ReclaimThrottleStyle } from './reclaim.ts';
import { StaticReserve, type ReserveStrategy } from './reserve-strategy.ts';
import { SwapSlots } from './swap-slots.ts';
import { PF, TaskList, type Task } from './task.ts';
import { Zone } from './zone.ts';

export interface MemoryModelConfig {
  /** Managed RAM in pages. */
  readonly ramPages: number;
  /** vm.min_free_kbytes; default: the kernel's formula for the RAM size. */
  readonly minFreeKbytes?: number;
  /** vm.watermark_scale_factor (default 10). */
  readonly watermarkScaleFactor?: number;
  /** Swap device size in pages. */
  readonly swapPages: number;
  /** throttle_direct_reclaim on pfmemalloc_wait (3.6+ with swap over network). */
  readonly pfmemallocThrottle: boolean;
  /** Seed 004's recursive reclaim: reserve users that fail free clean pages without writeout. */
  readonly recursiveReclaim: boolean;
  /** 'static': the reserve below min; 'dynamic': the emergency page cache (seed 001). */
  readonly reserve: 'static' | 'dynamic';
  readonly emergencyCache?: EmergencyCacheOptions;
  /** Seed 002's 2015 behaviour: kernel memory charged without reclaim skips memory.high. */
  readonly memcgKmemChargeWithoutReclaim: boolean;
  /** throttle_vm_writeout with vm.dirty_ratio (kernels until 4.9); absent: none. */
  readonly throttleVmWriteout?: { readonly dirtyRatio: number } | null;
  /** OOM detection: 'retries' (4.7+, default) or 'zone-reclaimable' (before 4.7). */
  readonly oomDetection?: 'retries' | 'zone-reclaimable';
  /** How reclaimers that free nothing wait: the era's (default 'reclaim_throttle', 5.16+). */
  readonly reclaimThrottle?: ReclaimThrottleStyle;
}

export const DEFAULT_MEMORY_CONFIG: Omit<MemoryModelConfig, 'ramPages' | 'swapPages'> = {
  pfmemallocThrottle: false,
  recursiveReclaim: false,
  reserve: 'static',
  memcgKmemChargeWithoutReclaim: false,
};

export class MemoryModel {
  readonly zone: Zone;
  readonly stats = new MemStats();
  readonly tasks = new TaskList();
  readonly reserve: ReserveStrategy;
  readonly allocator: PageAllocator;
  readonly memcgs: MemcgController;
  readonly slots: SwapSlots;
  readonly anon: AnonMemory;
  readonly files: FileCache;
  readonly throttle: PfmemallocThrottle;
  readonly reclaimer: Reclaimer;
  readonly kswapd: Kswapd;
  readonly oom: OomKiller;
  /** The context of receive processing (ksoftirqd). */
  readonly softirqTask: Task;
  /** Runs deferred work: memcg high_work, the emergency cache refill. */
  readonly kworker: Task;
  private readonly emergencyCache: EmergencyPageCache | undefined;

  constructor(
    readonly config: MemoryModelConfig,
    readonly scheduler: Scheduler,
    events: EventSink = ignoreEvents,
  ) {
    this.zone = new Zone({
      managedPages: config.ramPages,
      ...(config.minFreeKbytes !== undefined ? { minFreeKbytes: config.minFreeKbytes } : {}),
      ...(config.watermarkScaleFactor !== undefined
        ? { watermarkScaleFactor: config.watermarkScaleFactor }
        : {}),
    });
    const kthread = { flags: PF.KTHREAD, oomScoreAdj: -1000 };
    this.kworker = this.tasks.spawn('kworker', kthread);
    this.softirqTask = this.tasks.spawn('ksoftirqd', kthread);
    const kswapdTask = this.tasks.spawn('kswapd0', {
      flags: PF.KTHREAD | PF.MEMALLOC,
      oomScoreAdj: -1000,
    });

    if (config.reserve === 'dynamic') {
      this.emergencyCache = new EmergencyPageCache(
        this.zone,
        scheduler,
        events,
        this.kworker,
        config.emergencyCache ?? DEFAULT_EMERGENCY_CACHE,
      );
      this.reserve = this.emergencyCache;
    } else {
      this.reserve = new StaticReserve(this.zone);
    }

    // Collaborators built below; the hooks reach them once construction is done.
    const hooks: AllocatorHooks = {
      wakeKswapd: () => this.kswapd.wake(),
      directReclaim: (req, gfp) => this.reclaimer.directReclaim(req.ctx.task, gfp),
      reclaimablePages: () => this.reclaimablePages(),
      pagesScanned: () => this.zone.pagesScanned,
      outOfMemory: (gfp, order, task) => this.oom.outOfMemory(gfp, order, task, null),
      ...(config.recursiveReclaim
        ? { recursiveReclaim: (n: number) => this.reclaimer.reclaimCleanOnly(n) }
        : {}),
    };
    this.allocator = new PageAllocator(
      this.zone,
      this.reserve,
      scheduler,
      this.stats,
      events,
      hooks,
      config.oomDetection ?? 'retries',
    );
    this.memcgs = new MemcgController(
      scheduler,
      {
        reclaim: (memcg, n, gfp, task) => this.reclaimer.memcgReclaim(memcg, n, gfp, task),
        outOfMemory: (memcg, gfp, order, task) => this.oom.outOfMemory(gfp, order, task, memcg),
      },
      { kmemChargeWithoutReclaim: config.memcgKmemChargeWithoutReclaim },
      this.kworker,
    );
    this.slots = new SwapSlots(config.swapPages);
    this.anon = new AnonMemory(
      this.zone,
      this.allocator,
      this.slots,
      this.memcgs,
      scheduler,
      this.stats,
      events,
    );
    this.files = new FileCache(this.zone, this.allocator, this.memcgs, this.stats);
    const kswapdState: KswapdState = {
      failures: () => this.kswapd.failures,
      sleeping: () => this.kswapd.sleeping,
      kick: () => this.kswapd.kick(),
    };
    this.throttle = new PfmemallocThrottle(
      this.zone,
      kswapdState,
      scheduler,
      this.stats,
      () => this.reclaimablePages(),
      config.pfmemallocThrottle,
    );
    this.reclaimer = new Reclaimer(
      this.zone,
      this.anon,
      this.files,
      scheduler,
      this.stats,
      this.throttle,
      config.reclaimThrottle ?? 'reclaim_throttle',
      config.throttleVmWriteout ?? null,
    );
    this.kswapd = new Kswapd(this.zone, this.reclaimer, kswapdTask, scheduler, this.stats, events);
    this.oom = new OomKiller(
      this.tasks,
      () => this.zone.managedPages + this.slots.capacity,
      (victim) => {
        // SIGKILL wakes a killable sleeper: the victim leaves pfmemalloc_wait to exit.
        this.throttle.wait.wakeAll();
        return this.anon.reap(victim);
      },
      scheduler,
      this.stats,
      events,
    );
    this.reclaimer.onProgress = () => this.kswapd.noteReclaimProgress();
    this.kswapd.onProgress = () => this.throttle.kswapdProgress();
    this.kswapd.onSleep = () => this.throttle.kswapdSleeping();
    if (this.emergencyCache) this.reclaimer.addShrinker(this.emergencyCache);
  }

  /** Starts the background threads: kswapd, and the emergency cache's first fill. */
  start(): void {
    this.kswapd.start();
    this.emergencyCache?.attach(this.allocator);
  }

  /** Stops the background threads. */
  stop(): void {
    this.kswapd.stop();
    this.emergencyCache?.stop();
  }

  /**
   * zone_reclaimable_pages: pages on the file LRUs (clean and dirty), plus the anon
   * LRUs (pages under writeback included) while swap has free slots.
   */
  reclaimablePages(): number {
    const z = this.zone;
    const file = z.pages('file_clean') + z.pages('file_dirty');
    return this.slots.available > 0 ? file + z.pages('anon') + z.pages('writeback') : file;
  }

  /** Creates a memory cgroup with its own LRU. */
  createMemcg(limits: MemcgLimits): MemCgroup {
    return this.memcgs.create(limits, this.anon.addLru());
  }

  /** Spawns a user task (a workload) that the OOM killer may pick. */
  spawnTask(name: string, options: { oomScoreAdj?: number; memcg?: MemCgroup } = {}): Task {
    const task = this.tasks.spawn(
      name,
      options.oomScoreAdj !== undefined ? { oomScoreAdj: options.oomScoreAdj } : {},
    );
    if (options.memcg) task.memcg = options.memcg;
    return task;
  }

  /** Pages of the dynamic cache, if that strategy is in use. */
  get emergency(): EmergencyPageCache | undefined {
    return this.emergencyCache;
  }

  /** Checks every cross-module invariant (page conservation, swap accounting). Throws on a broken one. */
  checkInvariants(): void {
    this.zone.checkConservation();
    this.anon.checkConsistency();
    const wb = this.zone.pages('writeback');
    invariant(
      this.slots.used >= wb,
      () => `${wb} writeback pages but only ${this.slots.used} swap slots in use`,
    );
    for (const g of this.memcgs.all()) {
      invariant(
        g.stock >= 0 && g.usage >= g.stock,
        () => `memcg ${g.name}: usage ${g.usage}, stock ${g.stock}`,
      );
    }
  }
}
