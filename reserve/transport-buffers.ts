// Memory a swap transport allocates per request (an RPC buffer, a TLS record, a proxy's
// copy), held from send until the reply: the writeout path's own demand on memory. The
// sender is the NBD thread, under PF_MEMALLOC where the era has it, so these pages come
// from the reserve once free memory is at min; with the reserve empty its allocation
// fails and it retries after a short sleep (the writeout path is starved). Seed 004:
// recursive reclaim acts exactly here, when such an allocation finds the reserve empty.
// Simplification: a sender without PF_MEMALLOC (era 2.6) does not enter direct reclaim
// here; below min it just retries after the short sleep.
import { sleep, type Scheduler } from './clock.ts';
import { GFP } from './gfp.ts';
import type { PageAllocator } from './page-allocator.ts';
import type { AllocContext } from './task.ts';

/** How long the sender sleeps before retrying a failed buffer allocation (ms). */
export const TRANSPORT_RETRY_MS = 10;

export class TransportBuffers {
  /** Allocations that failed (reserve empty, or below min without PF_MEMALLOC). */
  failures = 0;
  /** Pages held now. */
  held = 0;
  /** Of them, from the reserve. */
  private heldPf = 0;

  constructor(
    private readonly allocator: PageAllocator,
    private readonly scheduler: Scheduler,
    /** Pages per request. */
    readonly pagesPerRequest: number,
  ) {}

  /**
   * Allocates one request's buffers (GFP_NOIO in `ctx`, all or nothing), sleeping and
   * retrying until it succeeds or `cancelled()`. Resolves the number of reserve pages taken
   * (pass it back to release()), or -1 when cancelled.
   */
  async acquire(ctx: AllocContext, cancelled: () => boolean): Promise<number> {
    const req = { gfp: GFP.NOIO, ctx, use: 'kernel' } as const;
    for (;;) {
      if (cancelled()) return -1;
      let got = 0;
      let pf = 0;
      for (; got < this.pagesPerRequest; got++) {
        const r = this.allocator.tryAlloc(req);
        if (!r?.ok) break;
        if (r.pfmemalloc) pf++;
      }
      if (got === this.pagesPerRequest) {
        this.held += got;
        this.heldPf += pf;
        return pf;
      }
      this.freePages(got, pf);
      this.failures++;
      await sleep(this.scheduler, TRANSPORT_RETRY_MS);
    }
  }

  /** Frees one request's buffers (acquire() returned `pfPages`). */
  release(pfPages: number): void {
    this.held -= this.pagesPerRequest;
    this.heldPf -= pfPages;
    this.freePages(this.pagesPerRequest, pfPages);
  }

  private freePages(pages: number, pf: number): void {
    if (pages > pf) this.allocator.free(pages - pf, 'kernel', false);
    if (pf > 0) this.allocator.free(pf, 'kernel', true);
  }
}
