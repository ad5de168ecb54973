// Global TCP memory (net/core/sock.c, __sk_mem_raise_allocated) in pages:
// below tcp_mem[0] fine; above tcp_mem[1] memory pressure; above tcp_mem[2] refused.
// Between [1] and [2] a socket may always hold rmem[0]/wmem[0], and under pressure only
// sockets below their fair share get more. The order matters: over the hard limit the
// rmem[0] guarantee does not apply, which is what lets tcp_mem wedge every socket
// before the forced first skb (kernel-reference.md 5).
import { PAGE_SIZE } from '../reserve/units.ts';

export type MemKind = 'recv' | 'send';

/** What tcp_mem needs to know about a socket. */
export interface SocketMemState {
  rmemAlloc: number;
  wmemQueued: number;
  /** Pages this socket has charged to tcp_mem now. */
  memPages: number;
}

export class TcpMem {
  /** memory_allocated, pages. */
  allocated = 0;
  /** tcp_memory_pressure. */
  pressure = false;
  /** Open sockets (sk_sockets_allocated). */
  sockets = 0;
  /** Charges refused (drops or send waits). */
  refusals = 0;

  constructor(
    /** tcp_mem: [min, pressure, max] in pages. */
    public limits: readonly [number, number, number],
    private readonly rmem0: number,
    private readonly wmem0: number,
  ) {}

  /**
   * __sk_mem_raise_allocated: charges `pages` for `sk`; returns false (and charges
   * nothing) when refused.
   */
  charge(sk: SocketMemState, pages: number, kind: MemKind): boolean {
    const allocated = this.allocated + pages;
    this.allocated = allocated;
    const [min, press, max] = this.limits;
    if (allocated <= min) {
      this.pressure = false;
      sk.memPages += pages;
      return true;
    }
    if (allocated > press) this.pressure = true;
    if (allocated <= max) {
      // Guarantee the minimum buffer size under pressure.
      if (kind === 'recv' ? sk.rmemAlloc < this.rmem0 : sk.wmemQueued < this.wmem0) {
        sk.memPages += pages;
        return true;
      }
      if (!this.pressure) {
        sk.memPages += pages;
        return true;
      }
      // Fair share: tcp_mem[2] > sockets * this socket's pages.
      const mine = Math.ceil((sk.wmemQueued + sk.rmemAlloc) / PAGE_SIZE);
      if (max > Math.max(this.sockets, 1) * mine) {
        sk.memPages += pages;
        return true;
      }
    }
    this.allocated -= pages;
    this.refusals++;
    return false;
  }

  /** sk_forced_mem_schedule: charges without any check. */
  force(sk: SocketMemState, pages: number): void {
    this.allocated += pages;
    sk.memPages += pages;
    if (this.allocated > this.limits[1]) this.pressure = true;
  }

  /** Returns pages (skbs freed). Leaves pressure once below tcp_mem[0]. */
  uncharge(sk: SocketMemState, pages: number): void {
    const n = Math.min(pages, sk.memPages);
    sk.memPages -= n;
    this.allocated -= n;
    if (this.allocated < this.limits[0]) this.pressure = false;
  }
}
