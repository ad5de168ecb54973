// Page cache of machine A: clean pages (reclaim frees them at once) and dirty pages
// (not written back by default, so reclaim cannot take them). Counted per memcg so
// that cgroup reclaim takes only its own pages.
import type { MemStats } from './mem-stats.ts';
import type { MemCgroup, MemcgController } from './memcg.ts';
import type { PageAllocator } from './page-allocator.ts';
import { GFP } from './gfp.ts';
import type { Task } from './task.ts';
import type { Zone } from './zone.ts';

export class FileCache {
  /** Clean pages charged to no cgroup. */
  private rootClean = 0;
  /** Pages freed by reclaim, ever. */
  freedTotal = 0;
  /**
   * Of the root's clean pages, those read again after reclaim took them (refaults, which
   * workingset_refault activates): the active file list. Reclaim takes inactive ones first.
   */
  activeClean = 0;

  constructor(
    private readonly zone: Zone,
    private readonly allocator: PageAllocator,
    private readonly memcgs: MemcgController,
    private readonly stats: MemStats,
  ) {}

  /**
   * Reads `pages` pages of a file into the cache for `task` (the reader workload): each
   * page is a GFP_KERNEL allocation that may reclaim. Returns pages added.
   */
  async read(task: Task, pages: number, refault = false): Promise<number> {
    const ctx = { exec: 'task', task } as const;
    let added = 0;
    for (let i = 0; i < pages && !task.killed; i++) {
      const req = { gfp: GFP.HIGHUSER_MOVABLE, ctx, use: 'file_clean' } as const;
      const r = this.allocator.tryAlloc(req) ?? (await this.allocator.alloc(req));
      if (!r.ok) break;
      if (!(await this.memcgs.charge(task.memcg, ctx, GFP.HIGHUSER_MOVABLE, 1, 'user'))) {
        this.allocator.free(1, 'file_clean', r.pfmemalloc);
        break;
      }
      // The page cache does not keep the mark per page: once cached, a page from the
      // reserve is an ordinary page (reclaim frees it unmarked).
      if (r.pfmemalloc) this.zone.clearPfmemalloc(1);
      if (task.memcg) task.memcg.fileClean++;
      else {
        this.rootClean++;
        if (refault) this.activeClean++;
      }
      added++;
    }
    return added;
  }

  /** Dirties `n` clean pages (not written back by default: reclaim skips them). */
  dirty(n: number): number {
    const k = Math.min(n, this.rootClean);
    if (k > 0) {
      this.rootClean -= k;
      this.zone.move(k, 'file_clean', 'file_dirty');
    }
    return k;
  }

  /**
   * inactive_list_is_low for the file LRU: fewer inactive than active pages. A cache being
   * re-read (refaults activate pages) has it; a cache read once does not.
   */
  inactiveFileLow(memcg: MemCgroup | null): boolean {
    if (memcg) return false;
    return this.rootClean - this.activeClean < this.activeClean;
  }

  /** Clean pages reclaim could take for `memcg` (null = global). */
  cleanPages(memcg: MemCgroup | null): number {
    return memcg ? memcg.fileClean : this.zone.pages('file_clean');
  }

  /**
   * Frees up to `n` clean pages (no writeout needed). Global reclaim takes from the
   * root first, then from cgroups. Returns pages freed.
   */
  reclaimClean(memcg: MemCgroup | null, n: number): number {
    let freed = 0;
    const takeFrom = (group: MemCgroup | null, want: number): number => {
      const have = group ? group.fileClean : this.rootClean;
      const k = Math.min(have, want);
      if (k <= 0) return 0;
      if (group) group.fileClean -= k;
      else {
        this.rootClean -= k;
        // Inactive pages go first: the active ones are taken only past the inactive.
        this.activeClean = Math.min(this.activeClean, this.rootClean);
      }
      this.zone.give(k, 'file_clean', false);
      this.memcgs.uncharge(group, k);
      return k;
    };
    if (memcg) freed = takeFrom(memcg, n);
    else {
      freed = takeFrom(null, n);
      for (const g of this.memcgs.all()) {
        if (freed >= n) break;
        freed += takeFrom(g, n - freed);
      }
    }
    this.freedTotal += freed;
    this.stats.cleanPagesReclaimed += freed;
    return freed;
  }
}
