// Units and kernel constants shared by the whole model. Memory is counted in 4 KiB
// pages; time in milliseconds with HZ = 1000, so one jiffy is one millisecond.

/** Bytes in a page (PAGE_SIZE on x86-64). */
export const PAGE_SIZE = 4096;
/** log2(PAGE_SIZE). */
export const PAGE_SHIFT = 12;
/** Timer ticks per second; kernel delays are written in jiffies (HZ/10 = 100 ms). */
export const HZ = 1000;
/** Orders above this are "costly": no OOM kill, no endless retry (mm/page_alloc.c). */
export const PAGE_ALLOC_COSTLY_ORDER = 3;
/** Reclaim rounds without progress before the allocator gives up or goes OOM. */
export const MAX_RECLAIM_RETRIES = 16;
/** Pages reclaimed per reclaim batch (include/linux/swap.h). */
export const SWAP_CLUSTER_MAX = 32;
/** Pages a memcg pre-charges into its per-CPU stock at once (MEMCG_CHARGE_BATCH). */
export const MEMCG_CHARGE_BATCH = 64;

/** Pages needed to hold `bytes` (rounded up). */
export function pagesForBytes(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE);
}

/** Whole pages in `kb` kilobytes (the kernel's `kb >> (PAGE_SHIFT - 10)`). */
export function pagesFromKb(kb: number): number {
  return Math.floor(kb / (PAGE_SIZE / 1024));
}

/** Kilobytes in `pages` pages. */
export function kbFromPages(pages: number): number {
  return pages * (PAGE_SIZE / 1024);
}

/** Pages in `mib` mebibytes. */
export function pagesFromMiB(mib: number): number {
  return Math.floor((mib * 1024 * 1024) / PAGE_SIZE);
}
