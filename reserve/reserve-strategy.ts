// Where ALLOC_NO_WATERMARKS allocations (PF_MEMALLOC, __GFP_MEMALLOC) get their pages:
// the static reserve below the min watermark (the kernel's design), or a dynamic
// emergency pool (emergency-page-cache.ts). Pages handed out here are marked pfmemalloc.
import type { PageState, PageUse, Zone } from './zone.ts';

export interface ReserveStrategy {
  /** 'static' | 'dynamic', for metrics and reports. */
  readonly kind: string;
  /** Pages this reserve can hand out when full (swapnet run JSON reserve.sizePages). */
  sizePages(): number;
  /** Hands out `n` pages into `use`, marked pfmemalloc; false when the reserve is empty. */
  take(n: number, use: PageUse): boolean;
  /** A pfmemalloc page is freed: gives it back to the zone or keeps it. */
  release(n: number, from: Exclude<PageState, 'free'>): void;
}

/**
 * The kernel's reserve: everything below the min watermark, down to zero free pages.
 * Callers with ALLOC_NO_WATERMARKS skip the watermark check entirely.
 */
export class StaticReserve implements ReserveStrategy {
  readonly kind = 'static';

  constructor(private readonly zone: Zone) {}

  sizePages(): number {
    return this.zone.watermarks.min;
  }

  take(n: number, use: PageUse): boolean {
    if (this.zone.free < n) return false;
    this.zone.take(n, use, true);
    return true;
  }

  release(n: number, from: Exclude<PageState, 'free'>): void {
    this.zone.give(n, from, true);
  }
}
