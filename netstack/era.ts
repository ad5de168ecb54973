// Kernel eras as knob sets (DESIGN.md section 6). An era only changes knobs; nothing
// tests an era's name to decide an outcome.
import type { ReclaimThrottleStyle } from '../reserve/reclaim.ts';
import { PF } from '../reserve/task.ts';
import { SOCK_MIN_SNDBUF } from './tcp-mem.ts';
import { MODERN_SOCKET_CAPS, type SocketBufferCaps } from '../reserve/sysctl-defaults.ts';

export const ERAS = ['2.6', '3.6', 'modern'] as const;
export type EraName = (typeof ERAS)[number];

export interface EraKnobs {
  readonly name: EraName;
  /** sk_set_memalloc exists (swap over NBD/NFS, 3.6+). */
  readonly memallocSockets: boolean;
  /**
   * When receive allocations may use the reserve: 'never' (2.6), 'when-memalloc-sockets'
   * (3.6: skbs get __GFP_MEMALLOC once some memalloc socket exists), 'always' (modern
   * drivers: RX pages always carry __GFP_MEMALLOC).
   */
  readonly rxReserve: 'never' | 'when-memalloc-sockets' | 'always';
  /** tcp_data_queue force-charges an in-order skb into an empty queue (about 4.20+). */
  readonly forcedFirstSkb: boolean;
  /**
   * tcp_sendmsg force-charges an skb when the write and retransmit queues are empty
   * (sk_stream_alloc_skb's force_schedule, 4.2+): a socket can always send one skb.
   */
  readonly forcedFirstSendSkb: boolean;
  /** throttle_direct_reclaim on pfmemalloc_wait exists (3.6+); a policy turns it on. */
  readonly pfmemallocThrottleAvailable: boolean;
  /**
   * How a reclaimer that freed nothing waits: congestion_wait(HZ/10) for everyone before
   * 5.16, reclaim_throttle by kind of reclaimer since (reserve/reclaim.ts).
   */
  readonly reclaimThrottle: ReclaimThrottleStyle;
  /**
   * OOM detection: 'zone-reclaimable' before 4.7 (loop while any page is freed, the
   * victim gets the whole reserve), 'retries' since (should_reclaim_retry, 16 rounds).
   */
  readonly oomDetection: 'retries' | 'zone-reclaimable';
  /** throttle_vm_writeout in direct reclaim (2.6 until 4.9: the 2.6 and 3.6 eras). */
  readonly throttleVmWriteout: boolean;
  /**
   * The NBD client sends under PF_MEMALLOC (memalloc_noreclaim_save in sock_xmit, 3.6+);
   * before, from its own thread with GFP_NOIO and no PF_MEMALLOC (kernel-reference 9).
   */
  readonly nbdSendsUnderMemalloc: boolean;
  /** SOCK_MIN_SNDBUF (bytes): the floor of sk_stream_moderate_sndbuf. */
  readonly sockMinSndbuf: number;
  /** tcp_mem's formula and the tcp_rmem/tcp_wmem defaults and caps of the era. */
  readonly socketCaps: SocketBufferCaps;
}

export const ERA_KNOBS: Readonly<Record<EraName, EraKnobs>> = {
  '2.6': {
    name: '2.6',
    memallocSockets: false,
    rxReserve: 'never',
    forcedFirstSkb: false,
    forcedFirstSendSkb: false,
    pfmemallocThrottleAvailable: false,
    reclaimThrottle: 'congestion_wait',
    nbdSendsUnderMemalloc: false,
    oomDetection: 'zone-reclaimable',
    throttleVmWriteout: true,
    sockMinSndbuf: 2048,
    socketCaps: {
      tcpMemFormula: '2.6',
      rmemDefault: 87380,
      rmemMaxCap: 4 * 1024 * 1024,
      wmemMaxCap: 4 * 1024 * 1024,
    },
  },
  '3.6': {
    name: '3.6',
    memallocSockets: true,
    rxReserve: 'when-memalloc-sockets',
    forcedFirstSkb: false,
    forcedFirstSendSkb: false,
    pfmemallocThrottleAvailable: true,
    reclaimThrottle: 'congestion_wait',
    nbdSendsUnderMemalloc: true,
    oomDetection: 'zone-reclaimable',
    throttleVmWriteout: true,
    sockMinSndbuf: SOCK_MIN_SNDBUF,
    socketCaps: {
      tcpMemFormula: '3.x',
      rmemDefault: 87380,
      rmemMaxCap: 6 * 1024 * 1024,
      wmemMaxCap: 4 * 1024 * 1024,
    },
  },
  modern: {
    name: 'modern',
    memallocSockets: true,
    rxReserve: 'always',
    forcedFirstSkb: true,
    forcedFirstSendSkb: true,
    pfmemallocThrottleAvailable: true,
    reclaimThrottle: 'reclaim_throttle',
    nbdSendsUnderMemalloc: true,
    oomDetection: 'retries',
    throttleVmWriteout: false,
    sockMinSndbuf: SOCK_MIN_SNDBUF,
    socketCaps: MODERN_SOCKET_CAPS,
  },
};

/**
 * The task flags of the task that sends the swap traffic. The kernel's NBD client is a
 * kernel thread, under PF_MEMALLOC since 3.6 (its sends may take the reserve and never
 * enter direct reclaim); before 3.6 without it, so its GFP_NOIO sends stop at the min
 * watermark and may reclaim. A userspace relay (swap.transport=userspace: a userspace
 * NBD or TLS proxy, marked PR_SET_IO_FLUSHER so that its allocations are GFP_NOIO) is a
 * user task without PF_MEMALLOC in every era: its sends stop at the min watermark, enter
 * direct reclaim and are throttled like any user task's.
 */
export function nbdSenderFlags(
  era: Pick<EraKnobs, 'nbdSendsUnderMemalloc'>,
  transport: 'kernel' | 'userspace' = 'kernel',
): number {
  if (transport === 'userspace') return 0;
  return PF.KTHREAD | (era.nbdSendsUnderMemalloc ? PF.MEMALLOC : 0);
}

export function isEraName(s: string): s is EraName {
  return (ERAS as readonly string[]).includes(s);
}
