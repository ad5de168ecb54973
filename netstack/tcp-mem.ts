// Global TCP memory (net/core/sock.c, __sk_mem_raise_allocated) in pages:
// below tcp_mem[0] fine; above tcp_mem[1] memory pressure; above tcp_mem[2] refused.
// Between [1] and [2] a socket may always hold rmem[0]/wmem[0], and under pressure only
// sockets below their fair share get more. The order matters: over the hard limit the
// rmem[0] guarantee does not apply, which is what lets tcp_mem wedge every socket
// before the forced first skb (kernel-reference.md 5). A refused stream send is still let
// through when the socket is at its (moderated) sndbuf: suppress_allocation.
import type { MemCgroup } from '../reserve/memcg.ts';
import { PAGE_SIZE } from '../reserve/units.ts';

/** mem_cgroup_charge_skmem / mem_cgroup_uncharge_skmem: the socket's memcg pays too. */
export interface SkmemCharger {
  charge(memcg: MemCgroup | null, pages: number): boolean;
  uncharge(memcg: MemCgroup | null, pages: number): void;
}

/**
 * SOCK_MIN_SNDBUF: 2 * TCP_SKB_MIN_TRUESIZE = 2 * (2048 + SKB_DATA_ALIGN(sizeof(struct
 * sk_buff))) on 64-bit since 4.x; 2048 in 2.6. The floor sk_stream_moderate_sndbuf keeps.
 */
export const SOCK_MIN_SNDBUF = 4608;

export type MemKind = 'recv' | 'send';

/** What tcp_mem needs to know about a socket. */
export interface SocketMemState {
  rmemAlloc: number;
  wmemQueued: number;
  /** sk_sndbuf, bytes; suppress_allocation moderates it (sk_stream_moderate_sndbuf). */
  sndbuf: number;
  /** Pages this socket has charged to tcp_mem now. */
  memPages: number;
  /** sk->sk_memcg: the memcg of the task that created or accepted it (null: root). */
  memcg?: MemCgroup | null;
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

  /** Refused stream sends let through by suppress_allocation (at their moderated sndbuf). */
  sendsSuppressedThrough = 0;

  constructor(
    /** tcp_mem: [min, pressure, max] in pages. */
    public limits: readonly [number, number, number],
    private readonly rmem0: number,
    private readonly wmem0: number,
    /** SOCK_MIN_SNDBUF of the era (bytes). */
    private readonly minSndbuf = SOCK_MIN_SNDBUF,
    /** Charges the socket's memcg alongside tcp_mem. */
    private readonly skmem?: SkmemCharger,
  ) {}

  /** Admits `pages` for `sk`: its count, and its memcg's (mem_cgroup_charge_skmem). */
  private admit(sk: SocketMemState, pages: number): true {
    sk.memPages += pages;
    if (sk.memcg) this.skmem?.charge(sk.memcg, pages);
    return true;
  }

  /**
   * __sk_mem_raise_allocated: charges `pages` for `sk`; returns false (and charges
   * nothing) when refused. A send (`kind` 'send', `size` the skb's truesize in bytes)
   * that would be refused goes through suppress_allocation: sk_stream_moderate_sndbuf
   * shrinks sk_sndbuf to half of what is queued (not below SOCK_MIN_SNDBUF) and the
   * charge stands when `wmem_queued + size >= sndbuf` ("fail only if socket is _bigger_
   * than its sndbuf"): the socket sends this skb and then waits for sndbuf space.
   */
  charge(sk: SocketMemState, pages: number, kind: MemKind, size = 0): boolean {
    const allocated = this.allocated + pages;
    this.allocated = allocated;
    const [min, press, max] = this.limits;
    if (allocated <= min) {
      this.pressure = false;
      return this.admit(sk, pages);
    }
    if (allocated > press) this.pressure = true;
    if (allocated <= max) {
      // Guarantee the minimum buffer size under pressure.
      if (kind === 'recv' ? sk.rmemAlloc < this.rmem0 : sk.wmemQueued < this.wmem0) {
        return this.admit(sk, pages);
      }
      if (!this.pressure) {
        return this.admit(sk, pages);
      }
      // Fair share: tcp_mem[2] > sockets * this socket's pages.
      const mine = Math.ceil((sk.wmemQueued + sk.rmemAlloc) / PAGE_SIZE);
      if (max > Math.max(this.sockets, 1) * mine) {
        return this.admit(sk, pages);
      }
    }
    // suppress_allocation
    if (kind === 'send') {
      // sk_stream_moderate_sndbuf (no SOCK_SNDBUF_LOCK on A's sockets).
      sk.sndbuf = Math.max(Math.min(sk.sndbuf, sk.wmemQueued >> 1), this.minSndbuf);
      if (sk.wmemQueued + size >= sk.sndbuf) {
        this.sendsSuppressedThrough++;
        return this.admit(sk, pages);
      }
    }
    this.allocated -= pages;
    this.refusals++;
    return false;
  }

  /** sk_forced_mem_schedule: charges without any check. */
  force(sk: SocketMemState, pages: number): void {
    this.allocated += pages;
    this.admit(sk, pages);
    if (this.allocated > this.limits[1]) this.pressure = true;
  }

  /** Returns pages (skbs freed). Leaves pressure once below tcp_mem[0]. */
  uncharge(sk: SocketMemState, pages: number): void {
    const n = Math.min(pages, sk.memPages);
    sk.memPages -= n;
    this.allocated -= n;
    if (sk.memcg) this.skmem?.uncharge(sk.memcg, n);
    if (this.allocated < this.limits[0]) this.pressure = false;
  }
}
