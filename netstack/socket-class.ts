// Which kind of socket a frame was for: the label of every RX counter. Labels only:
// the receive path decides from the socket's flags, never from its class.

export const SOCKET_CLASSES = ['swap', 'service', 'control', 'unknown'] as const;
export type SocketClass = (typeof SOCKET_CLASSES)[number];

/** Why A's receive path dropped a frame. */
export const DROP_REASONS = [
  /** No memory for the skb (GFP_ATOMIC floor reached, no reserve allowed or left). */
  'nomem',
  /** A pfmemalloc skb for a socket without SOCK_MEMALLOC (sk_filter_trim_cap). */
  'pfmemalloc',
  /** tcp_mem refused the charge (TCPRcvQDrop, SKB_DROP_REASON_PROTO_MEM). */
  'proto_mem',
  /** The socket's receive buffer is full. */
  'rcvbuf',
  /** No socket for the flow. */
  'no_socket',
  /** Already received (a retransmission): re-ACKed. */
  'duplicate',
  /** A gap before it (an earlier frame was dropped): the sender goes back. */
  'out_of_order',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Receive counters by socket class (and reason). Plain numbers, read at scrape time. */
export class RxCounters {
  readonly packets = zero();
  readonly delivered = zero();
  readonly drops: Record<DropReason, Record<SocketClass, number>> = Object.fromEntries(
    DROP_REASONS.map((r) => [r, zero()]),
  ) as Record<DropReason, Record<SocketClass, number>>;

  drop(reason: DropReason, cls: SocketClass): void {
    this.drops[reason][cls]++;
  }

  /** Total drops for a reason across classes. */
  dropsFor(reason: DropReason): number {
    let n = 0;
    for (const c of SOCKET_CLASSES) n += this.drops[reason][c];
    return n;
  }

  totalDelivered(): number {
    let n = 0;
    for (const c of SOCKET_CLASSES) n += this.delivered[c];
    return n;
  }
}

function zero(): Record<SocketClass, number> {
  return { swap: 0, service: 0, control: 0, unknown: 0 };
}
