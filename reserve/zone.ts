// Machine A's memory as page counts by state, in one zone (Normal). Pages are counted,
// never listed, so every operation costs the same at 256 MiB and at 64 GiB. Every
// transition keeps the sum of all states equal to the managed pages (conservation).
// The hot transitions check their preconditions without building a message closure.
import { invariant, InvariantError } from './errors.ts';
import { deriveSysctls, type Watermarks, zoneWatermarks } from './sysctl-defaults.ts';

/** Page states, each exported as a gauge (swapnet_mem_pages{state}). */
export const PAGE_STATES = [
  'free',
  'anon',
  'file_clean',
  'file_dirty',
  'writeback',
  'skb',
  'kernel',
] as const;
export type PageState = (typeof PAGE_STATES)[number];
/** What an allocated page becomes. */
export type PageUse = Exclude<PageState, 'free' | 'writeback'>;

const INDEX: Readonly<Record<PageState, number>> = {
  free: 0,
  anon: 1,
  file_clean: 2,
  file_dirty: 3,
  writeback: 4,
  skb: 5,
  kernel: 6,
};

export class Zone {
  /** zone->pages_scanned (before 4.7): pages reclaim scanned since a page was last freed. */
  pagesScanned = 0;
  readonly managedPages: number;
  private readonly counts = new Float64Array(PAGE_STATES.length);
  private marks: Watermarks;
  private minFreeKb: number;
  private readonly scaleFactor: number;
  /** Pages handed out from the memalloc reserve and still held (marked pfmemalloc). */
  private pfmemallocHeld = 0;
  private pfmemallocPeak = 0;

  constructor(options: {
    managedPages: number;
    minFreeKbytes?: number;
    watermarkScaleFactor?: number;
  }) {
    invariant(
      Number.isSafeInteger(options.managedPages) && options.managedPages > 0,
      `zone needs a positive whole number of pages, got ${options.managedPages}`,
    );
    this.managedPages = options.managedPages;
    this.scaleFactor = options.watermarkScaleFactor ?? 10;
    const derived = deriveSysctls(options.managedPages * 4096, {
      ...(options.minFreeKbytes !== undefined ? { minFreeKbytes: options.minFreeKbytes } : {}),
      watermarkScaleFactor: this.scaleFactor,
    });
    this.minFreeKb = derived.minFreeKbytes;
    this.marks = derived.watermarks;
    this.counts[INDEX.free] = options.managedPages;
  }

  get watermarks(): Watermarks {
    return this.marks;
  }

  get minFreeKbytes(): number {
    return this.minFreeKb;
  }

  /** Writes vm.min_free_kbytes: the watermarks are recomputed, like the sysctl handler. */
  setMinFreeKbytes(kb: number): void {
    invariant(Number.isSafeInteger(kb) && kb > 0, `min_free_kbytes must be positive, got ${kb}`);
    this.minFreeKb = kb;
    this.marks = zoneWatermarks(this.managedPages, kb, this.scaleFactor);
  }

  get free(): number {
    return this.counts[INDEX.free] as number;
  }

  /** Pages in `state` now. */
  pages(state: PageState): number {
    return this.counts[INDEX[state]] as number;
  }

  /** Pfmemalloc pages held now (swapnet_reserve_used_pages). */
  get reserveUsed(): number {
    return this.pfmemallocHeld;
  }

  /** Highest reserveUsed seen. */
  get reservePeak(): number {
    return this.pfmemallocPeak;
  }

  /** Takes `n` free pages into `use`. The caller has checked the watermarks. */
  take(n: number, use: PageUse, pfmemalloc: boolean): void {
    if (!(n > 0 && this.free >= n)) throw new InvariantError(`take(${n}) with ${this.free} free`);
    this.counts[INDEX.free] = this.free - n;
    this.counts[INDEX[use]] = (this.counts[INDEX[use]] as number) + n;
    if (pfmemalloc) this.notePfmemalloc(n);
  }

  /** Frees `n` pages that were in `from`; `pfmemalloc` says whether they came from the reserve. */
  give(n: number, from: Exclude<PageState, 'free'>, pfmemalloc: boolean): void {
    // free_one_page / free_pcppages_bulk (before 4.7): any page freed resets the scan
    // count, so the zone looks reclaimable again (zone_reclaimable).
    this.pagesScanned = 0;
    const have = this.counts[INDEX[from]] as number;
    if (!(n > 0 && have >= n)) throw new InvariantError(`give(${n}) from ${from} holding ${have}`);
    this.counts[INDEX[from]] = have - n;
    this.counts[INDEX.free] = this.free + n;
    if (pfmemalloc) {
      if (this.pfmemallocHeld < n) {
        throw new InvariantError(`freeing ${n} pfmemalloc pages, ${this.pfmemallocHeld} held`);
      }
      this.pfmemallocHeld -= n;
    }
  }

  /** Moves `n` allocated pages between states (anon -> writeback, dirty -> clean). */
  move(n: number, from: Exclude<PageState, 'free'>, to: Exclude<PageState, 'free'>): void {
    const have = this.counts[INDEX[from]] as number;
    if (!(n > 0 && have >= n))
      throw new InvariantError(`move(${n}) ${from}->${to} holding ${have}`);
    this.counts[INDEX[from]] = have - n;
    this.counts[INDEX[to]] = (this.counts[INDEX[to]] as number) + n;
  }

  /** Marks `n` already-held pages as pfmemalloc (pages taken from a reserve pool). */
  notePfmemalloc(n: number): void {
    this.pfmemallocHeld += n;
    if (this.pfmemallocHeld > this.pfmemallocPeak) this.pfmemallocPeak = this.pfmemallocHeld;
  }

  /** Clears the pfmemalloc mark of `n` held pages (returned to a reserve pool). */
  clearPfmemalloc(n: number): void {
    invariant(
      this.pfmemallocHeld >= n,
      () => `clearing ${n} pfmemalloc pages, ${this.pfmemallocHeld} held`,
    );
    this.pfmemallocHeld -= n;
  }

  /** Every state's count, for metrics and /status. */
  snapshot(): Record<PageState, number> {
    const out = {} as Record<PageState, number>;
    for (const s of PAGE_STATES) out[s] = this.counts[INDEX[s]] as number;
    return out;
  }

  /** Checks page conservation: all states sum to the managed pages, none negative. */
  checkConservation(): void {
    let sum = 0;
    for (const s of PAGE_STATES) {
      const c = this.counts[INDEX[s]] as number;
      invariant(c >= 0 && Number.isInteger(c), () => `state ${s} holds ${c} pages`);
      sum += c;
    }
    invariant(
      sum === this.managedPages,
      () => `pages sum to ${sum}, zone manages ${this.managedPages}`,
    );
    invariant(this.pfmemallocHeld >= 0, 'negative pfmemalloc count');
  }
}
