// Allocation contexts as explicit values: gfp masks (what the caller allows the
// allocator to do) and execution contexts (task, softirq, hard IRQ). Names follow
// include/linux/gfp_types.h; the bit values are swapnet's own.

declare const gfpBrand: unique symbol;
/** A gfp mask: a set of __GFP_* bits. Build with the constants below and gfpOr(). */
export type GfpMask = number & { readonly [gfpBrand]: true };

const bit = (n: number): GfpMask => (1 << n) as GfpMask;

/** The individual __GFP_* bits. */
export const __GFP = {
  /** Caller is high priority: may dip into part of the min reserve. */
  HIGH: bit(0),
  /** May start physical I/O (swap writeout needs it). */
  IO: bit(1),
  /** May call into the filesystem; also: the OOM killer may kill for this request. */
  FS: bit(2),
  /** May enter direct reclaim, i.e. may sleep. */
  DIRECT_RECLAIM: bit(3),
  /** Wakes kswapd when below the low watermark. */
  KSWAPD_RECLAIM: bit(4),
  /** Use the memalloc reserve regardless of context (ALLOC_NO_WATERMARKS). */
  MEMALLOC: bit(5),
  /** Never use the memalloc reserve; wins over everything else. */
  NOMEMALLOC: bit(6),
  /** Never fail: retry forever (only meaningful when the caller may block). */
  NOFAIL: bit(7),
  /** Fail after one light reclaim round instead of retrying or OOM-killing. */
  NORETRY: bit(8),
  /** Retry hard but allow failure instead of the OOM killer. */
  RETRY_MAYFAIL: bit(9),
  /** No warning on failure. */
  NOWARN: bit(10),
  /** Only this node (never OOM-kill for it). */
  THISNODE: bit(11),
  /** Charge the allocation to the memory cgroup of the caller (kmem accounting). */
  ACCOUNT: bit(12),
  /** Respect cpuset limits (GFP_USER). */
  HARDWALL: bit(13),
} as const;

/** Bitwise union of masks. */
export function gfpOr(...masks: GfpMask[]): GfpMask {
  let m = 0;
  for (const x of masks) m |= x;
  return m as GfpMask;
}

/** `mask` without the bits of `remove`. */
export function gfpWithout(mask: GfpMask, remove: GfpMask): GfpMask {
  return (mask & ~remove) as GfpMask;
}

/** Whether every bit of `bits` is set in `mask`. */
export function gfpHas(mask: GfpMask, bits: GfpMask): boolean {
  return (mask & bits) === bits;
}

const RECLAIM = gfpOr(__GFP.DIRECT_RECLAIM, __GFP.KSWAPD_RECLAIM);

/** Composite masks (include/linux/gfp_types.h). */
export const GFP = {
  /** Interrupt/softirq context: cannot sleep, may use 3/8 of min. */
  ATOMIC: gfpOr(__GFP.HIGH, __GFP.KSWAPD_RECLAIM),
  /** Cannot sleep, no reserve access. */
  NOWAIT: gfpOr(__GFP.KSWAPD_RECLAIM, __GFP.NOWARN),
  /** May reclaim but must not start I/O (block layer, swap driver internals). */
  NOIO: RECLAIM,
  /** May reclaim and start I/O but must not recurse into filesystems. */
  NOFS: gfpOr(RECLAIM, __GFP.IO),
  /** Normal kernel allocation: may sleep, reclaim, do I/O and OOM-kill. */
  KERNEL: gfpOr(RECLAIM, __GFP.IO, __GFP.FS),
  /** User pages (anon faults): GFP_KERNEL respecting cpusets. */
  HIGHUSER_MOVABLE: gfpOr(RECLAIM, __GFP.IO, __GFP.FS, __GFP.HARDWALL),
  /** Kernel memory charged to the caller's memcg. */
  KERNEL_ACCOUNT: gfpOr(RECLAIM, __GFP.IO, __GFP.FS, __GFP.ACCOUNT),
} as const;

/** gfpflags_allow_blocking: may this request sleep (direct reclaim)? */
export function gfpAllowsBlocking(mask: GfpMask): boolean {
  return (mask & __GFP.DIRECT_RECLAIM) !== 0;
}

/** Human form, e.g. "GFP_KERNEL|__GFP_NOFAIL", for logs and errors. */
export function describeGfp(mask: GfpMask): string {
  const names: string[] = [];
  let rest = mask as number;
  for (const [name, composite] of Object.entries(GFP) as [string, GfpMask][]) {
    if (composite === mask) return `GFP_${name}`;
  }
  for (const name of ['KERNEL', 'NOFS', 'NOIO', 'ATOMIC'] as const) {
    const c = GFP[name];
    if ((rest & c) === c) {
      names.push(`GFP_${name}`);
      rest &= ~c;
      break;
    }
  }
  for (const [name, b] of Object.entries(__GFP)) {
    if (rest & b) names.push(`__GFP_${name}`);
  }
  return names.length > 0 ? names.join('|') : '0';
}

/** Where the allocating code runs. PF_MEMALLOC grants the reserve in task and softirq only. */
export type ExecContext = 'task' | 'softirq' | 'hardirq';
