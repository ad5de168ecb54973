// Allocator benchmark: the per-operation cost of the page allocator at 256 MiB and at
// 64 GiB of emulated RAM, measured in the same run. Memory is counted, not listed, so
// the two should cost the same.
import { effectiveMark, gfpToAllocFlags } from '../../reserve/alloc-flags.ts';
import { GFP, type GfpMask } from '../../reserve/gfp.ts';
import { DEFAULT_MEMORY_CONFIG, MemoryModel } from '../../reserve/memory-model.ts';
import { PF } from '../../reserve/task.ts';
import { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';

export interface AllocatorResult {
  readonly opsPerSecondSmall: number;
  readonly opsPerSecondLarge: number;
  /** opsPerSecondLarge / opsPerSecondSmall: 1 = same cost; the goal is >= 1/1.2. */
  readonly ratioLargeToSmall: number;
}

const MiB = 1024 * 1024;

const BATCH = 32;

/**
 * The same operation sequence at every RAM size: 32 fast-path allocations from just
 * above low, 32 slow-path ones down to min (waking kswapd) and one failure there, 32
 * GFP_ATOMIC ones down to 3/8 of min and a failure, 32 PF_MEMALLOC ones draining the
 * reserve to zero and a failure, then 128 frees. The zone is positioned before each
 * phase directly (not counted as operations).
 */
function makeWorkload(ramMiB: number) {
  const model = new MemoryModel(
    { ...DEFAULT_MEMORY_CONFIG, ramPages: (ramMiB * MiB) / 4096, swapPages: 1024 },
    new VirtualScheduler(),
  );
  const zone = model.zone;
  const task = model.spawnTask('bench');
  const reclaimer = model.spawnTask('reclaimer');
  reclaimer.flags |= PF.MEMALLOC;
  const { low, min } = zone.watermarks;
  const atomicFloor = effectiveMark(min, gfpToAllocFlags(GFP.ATOMIC, 0));
  const phases: Array<{
    startFree: number;
    gfp: GfpMask;
    exec: 'task' | 'softirq';
    who: typeof task;
  }> = [
    { startFree: low + BATCH, gfp: GFP.NOWAIT, exec: 'task', who: task },
    { startFree: min + BATCH, gfp: GFP.NOWAIT, exec: 'task', who: task },
    { startFree: atomicFloor + BATCH, gfp: GFP.ATOMIC, exec: 'softirq', who: model.softirqTask },
    { startFree: BATCH, gfp: GFP.NOIO, exec: 'task', who: reclaimer },
  ];
  const position = (free: number): void => {
    if (zone.free > free) zone.take(zone.free - free, 'kernel', false);
    else if (zone.free < free) zone.give(free - zone.free, 'kernel', false);
  };
  const pf: boolean[] = new Array(phases.length * BATCH).fill(false);
  let ops = 0;
  const round = (): void => {
    let n = 0;
    for (const phase of phases) {
      position(phase.startFree);
      const req = {
        gfp: phase.gfp,
        ctx: { exec: phase.exec, task: phase.who },
        use: 'skb',
      } as const;
      // Exactly BATCH successes, then (below low) one failure at the floor.
      for (let i = 0; i <= BATCH; i++) {
        if (i === BATCH && phase.startFree === low + BATCH) break;
        const r = model.allocator.tryAlloc(req);
        ops++;
        if (!r || !r.ok) break;
        pf[n++] = r.pfmemalloc;
      }
    }
    if (n !== phases.length * BATCH)
      throw new Error(`allocator benchmark: ${n} allocations in a round`);
    for (let i = 0; i < n; i++) {
      model.allocator.free(1, 'skb', pf[i] as boolean);
      ops++;
    }
  };
  return {
    run(durationMs: number): number {
      const start = performance.now();
      const before = ops;
      let elapsed = 0;
      while ((elapsed = performance.now() - start) < durationMs) round();
      return ((ops - before) / elapsed) * 1000;
    },
  };
}

/** Runs both sizes interleaved, several times, and keeps the best rate of each. */
export function benchAllocator(rounds = 6, sliceMs = 300): AllocatorResult {
  const small = makeWorkload(256);
  const large = makeWorkload(64 * 1024);
  // Warm both up so the JIT sees the same code before measuring.
  small.run(200);
  large.run(200);
  let bestSmall = 0;
  let bestLarge = 0;
  for (let i = 0; i < rounds; i++) {
    bestSmall = Math.max(bestSmall, small.run(sliceMs));
    bestLarge = Math.max(bestLarge, large.run(sliceMs));
  }
  return {
    opsPerSecondSmall: Math.round(bestSmall),
    opsPerSecondLarge: Math.round(bestLarge),
    ratioLargeToSmall: Number((bestLarge / bestSmall).toFixed(3)),
  };
}
