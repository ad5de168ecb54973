// How far below the watermarks a request may go: gfp_to_alloc_flags,
// __gfp_pfmemalloc_flags and __zone_watermark_ok (mm/page_alloc.c, names since 6.3).
import { __GFP, type ExecContext, type GfpMask } from './gfp.ts';
import { PF, type Task } from './task.ts';
import type { Watermarks } from './sysctl-defaults.ts';

/** ALLOC_* flags: the allocator's internal view of a request. */
export const ALLOC = {
  WMARK_MIN: 0,
  WMARK_LOW: 1,
  WMARK_HIGH: 2,
  WMARK_MASK: 3,
  /** Ignore watermarks: the memalloc reserve (PF_MEMALLOC, __GFP_MEMALLOC). */
  NO_WATERMARKS: 1 << 2,
  /** OOM victim: may use half of what it would otherwise get. */
  OOM: 1 << 3,
  /** Caller cannot block (no __GFP_DIRECT_RECLAIM, no __GFP_NOMEMALLOC). */
  NON_BLOCK: 1 << 4,
  /** __GFP_HIGH: may use half of min. */
  MIN_RESERVE: 1 << 5,
  /** Wake kswapd. */
  KSWAPD: 1 << 6,
  /** High-order atomic reserve (order > 0 non-blocking). */
  HIGHATOMIC: 1 << 7,
} as const;

const ALLOC_RESERVES = ALLOC.NON_BLOCK | ALLOC.MIN_RESERVE | ALLOC.HIGHATOMIC | ALLOC.OOM;

/** gfp_to_alloc_flags: the slow path's flags for a request. */
export function gfpToAllocFlags(gfp: GfpMask, order: number): number {
  let flags: number = ALLOC.WMARK_MIN;
  if (gfp & __GFP.HIGH) flags |= ALLOC.MIN_RESERVE;
  if (gfp & __GFP.KSWAPD_RECLAIM) flags |= ALLOC.KSWAPD;
  if (!(gfp & __GFP.DIRECT_RECLAIM)) {
    // Not worth trying harder for __GFP_NOMEMALLOC even if it cannot schedule.
    if (!(gfp & __GFP.NOMEMALLOC)) {
      flags |= ALLOC.NON_BLOCK;
      if (order > 0) flags |= ALLOC.HIGHATOMIC;
    }
  }
  return flags;
}

/**
 * __gfp_pfmemalloc_flags: may this request use the memalloc reserve?
 * __GFP_NOMEMALLOC always wins; __GFP_MEMALLOC works in any context; PF_MEMALLOC in
 * task context and in softirq, never in hard IRQ; an OOM victim in task context gets
 * ALLOC_OOM (4.7+; before, TIF_MEMDIE gave it ALLOC_NO_WATERMARKS).
 */
export function gfpPfmemallocFlags(
  gfp: GfpMask,
  exec: ExecContext,
  task: Task,
  /** Before 4.7 a TIF_MEMDIE task had the whole reserve (ALLOC_NO_WATERMARKS). */
  oomVictimNoWatermarks = false,
): number {
  if (gfp & __GFP.NOMEMALLOC) return 0;
  if (gfp & __GFP.MEMALLOC) return ALLOC.NO_WATERMARKS;
  const pfMemalloc = (task.flags & PF.MEMALLOC) !== 0;
  if (exec === 'softirq' && pfMemalloc) return ALLOC.NO_WATERMARKS;
  if (exec === 'task') {
    if (pfMemalloc) return ALLOC.NO_WATERMARKS;
    if (task.oomVictim) return oomVictimNoWatermarks ? ALLOC.NO_WATERMARKS : ALLOC.OOM;
  }
  return 0;
}

/** The watermark an ALLOC_WMARK_* value names. */
export function watermarkFor(flags: number, wm: Watermarks): number {
  switch (flags & ALLOC.WMARK_MASK) {
    case ALLOC.WMARK_LOW:
      return wm.low;
    case ALLOC.WMARK_HIGH:
      return wm.high;
    default:
      return wm.min;
  }
}

/**
 * The floor a request must stay above: `mark` reduced for reserves.
 * __GFP_HIGH: min - min/2; non-blocking __GFP_HIGH (GFP_ATOMIC): a further quarter
 * off, i.e. 3/8 of min; OOM victim: half again.
 */
export function effectiveMark(mark: number, flags: number): number {
  let min = mark;
  if (flags & ALLOC_RESERVES) {
    if (flags & ALLOC.MIN_RESERVE) {
      min -= Math.floor(min / 2);
      if (flags & ALLOC.NON_BLOCK) min -= Math.floor(min / 4);
    }
    if (flags & ALLOC.OOM) min -= Math.floor(min / 2);
  }
  return min;
}

/**
 * __zone_watermark_ok: may an allocation of 2^order pages proceed with `free` pages
 * free? Fails when free - (2^order - 1) <= the effective mark. swapnet does not model
 * fragmentation, so any 2^order free pages make a block.
 */
export function zoneWatermarkOk(free: number, order: number, mark: number, flags: number): boolean {
  const usable = free - ((1 << order) - 1);
  return usable > effectiveMark(mark, flags);
}
