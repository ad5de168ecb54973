// A socket on machine A: receive queue of skbs whose pages stay allocated until the
// application reads them, receive and send buffer accounting, tcp_mem charges, the
// SOCK_MEMALLOC flag, and the send path (skb allocated in the sender's context, held
// until acknowledged, bounded by the send buffer).
import type { Scheduler } from '../reserve/clock.ts';
import { gfpAllowsBlocking, type GfpMask } from '../reserve/gfp.ts';
import type { MemCgroup } from '../reserve/memcg.ts';
import type { PageAllocator } from '../reserve/page-allocator.ts';
import type { AllocContext } from '../reserve/task.ts';
import { WaitQueue } from '../reserve/wait-queue.ts';
import type { EraKnobs } from './era.ts';
import { Flow, type FlowView, type RtoOptions, type SentMessage } from './flow.ts';
import type { FrameFields } from './frame.ts';
import { freeSkbPages, skbPages, skbTruesize, type Skb, type SkbPages } from './skb.ts';
import type { SocketClass } from './socket-class.ts';
import type { SocketMemState, TcpMem } from './tcp-mem.ts';

/** An skb held by a socket, and how it was charged. */
export interface HeldSkb extends Skb {
  /** Pages charged to tcp_mem for it (0 for a pfmemalloc bypass). */
  readonly charged: number;
}

export interface EmuSocketOptions {
  readonly flowId: number;
  readonly cls: SocketClass;
  readonly rcvbuf: number;
  readonly sndbuf: number;
  /** sk_allocation: the gfp mask of send allocations. */
  readonly allocation: GfpMask;
  readonly rto?: RtoOptions;
}

/** What a socket needs from A's stack. */
export interface SocketHost {
  readonly allocator: PageAllocator;
  readonly tcpMem: TcpMem;
  readonly scheduler: Scheduler;
  /** The kernel era's rules (the forced first skb on send). */
  readonly era: Pick<EraKnobs, 'forcedFirstSendSkb'>;
  /** Writes a frame on this socket's connection; false when backed up. */
  transmit(frame: FrameFields): boolean;
  /** The receive window opened after a read: send a window update soon. */
  windowOpened(socket: EmuSocket): void;
  /** The socket's flow owes a delayed ACK: put it on the stack's shared timer. */
  delayAck(socket: EmuSocket): void;
  /** The socket's flow owes an ACK now: send it at the end of the batch. */
  ackOwed(socket: EmuSocket): void;
}

/** The kernel's scaling: advertise 50% of free receive space before any skb is seen. */
const INITIAL_SCALING = 0.5;
/** TCP_MSS_DEFAULT: the segment size assumed before a larger one is seen. */
const TCP_MSS_DEFAULT = 536;

export interface SocketView {
  readonly flowId: number;
  readonly cls: SocketClass;
  readonly memalloc: boolean;
  readonly queuedMessages: number;
  readonly rmemAlloc: number;
  readonly rcvbuf: number;
  readonly wmemQueued: number;
  readonly sndbuf: number;
  readonly memPages: number;
  readonly advertisedWindow: number;
  readonly closed: boolean;
  readonly flow: FlowView;
}

export class EmuSocket implements SocketMemState {
  readonly flowId: number;
  readonly cls: SocketClass;
  readonly flow: Flow<HeldSkb>;
  /** SOCK_MEMALLOC (sk_set_memalloc). */
  memalloc = false;
  /** sk->sk_memcg: set once, before the socket holds any memory. */
  memcg: MemCgroup | null = null;
  rcvbuf: number;
  sndbuf: number;
  /** The sndbuf the socket was opened with; tcp_sndbuf_expand grows it back to this. */
  private readonly sndbufInitial: number;
  allocation: GfpMask;
  rmemAlloc = 0;
  wmemQueued = 0;
  memPages = 0;
  closed = false;
  /** Called when data is queued (an application polling many sockets listens here). */
  onData: (() => void) | undefined;
  /**
   * payload/truesize (tp->scaling_ratio): turns free space into a window. Like
   * tcp_measure_rcv_mss, only full-sized segments (at least rcv_mss) update it, so a
   * stream of tiny replies cannot shrink the window below one large message.
   */
  private scalingRatio = INITIAL_SCALING;
  /** icsk_ack.rcv_mss: the largest payload seen, starting at TCP_MSS_DEFAULT. */
  private rcvMss = TCP_MSS_DEFAULT;
  private readonly queue: HeldSkb[] = [];
  private queueHead = 0;
  private readonly readable: WaitQueue;
  private readonly writeSpace: WaitQueue;
  private lastAdvertised = 0;

  constructor(
    private readonly host: SocketHost,
    options: EmuSocketOptions,
  ) {
    this.flowId = options.flowId;
    this.cls = options.cls;
    this.rcvbuf = options.rcvbuf;
    this.sndbuf = options.sndbuf;
    this.sndbufInitial = options.sndbuf;
    this.allocation = options.allocation;
    this.readable = new WaitQueue(host.scheduler);
    this.writeSpace = new WaitQueue(host.scheduler);
    this.flow = new Flow<HeldSkb>({
      flowId: options.flowId,
      scheduler: host.scheduler,
      transmit: (f) => host.transmit(f),
      window: () => this.advertise(),
      ...(options.rto ? { rto: options.rto } : {}),
      onAcked: (done) => this.acked(done),
      delayAck: () => host.delayAck(this),
      ackOwed: () => host.ackOwed(this),
    });
    host.tcpMem.sockets++;
  }

  /** The socket as `ss -tmi` would show it: queues, memory, window, flow state. */
  view(): SocketView {
    return {
      flowId: this.flowId,
      cls: this.cls,
      memalloc: this.memalloc,
      queuedMessages: this.queued,
      rmemAlloc: this.rmemAlloc,
      rcvbuf: this.rcvbuf,
      wmemQueued: this.wmemQueued,
      sndbuf: this.sndbuf,
      memPages: this.memPages,
      advertisedWindow: this.lastAdvertised,
      closed: this.closed,
      flow: this.flow.view(),
    };
  }

  /** Messages waiting to be read. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Whether the receive queue is empty (the forced-first-skb rule looks at this). */
  get queueEmpty(): boolean {
    return this.queueHead === this.queue.length;
  }

  /**
   * The window to advertise: free receive space scaled by payload/truesize. Receiver-side
   * silly-window avoidance: less than one segment (rcv_mss) is advertised as zero.
   */
  advertise(): number {
    const free = Math.max(0, this.rcvbuf - this.rmemAlloc);
    const window = Math.floor(free * this.scalingRatio);
    this.lastAdvertised = window < this.rcvMss ? 0 : window;
    return this.lastAdvertised;
  }

  /** Receive path: queue an accepted skb (its pages stay allocated until read). */
  enqueue(skb: HeldSkb): void {
    this.queue.push(skb);
    this.rmemAlloc += skb.truesize;
    if (skb.payload.length >= this.rcvMss) {
      this.rcvMss = skb.payload.length;
      this.scalingRatio = skb.payload.length / skb.truesize;
    }
    this.flow.accept(skb.payload.length);
    if (this.readable.waiters > 0) this.readable.wakeOne();
    this.onData?.();
  }

  /**
   * Reads one message, freeing its skb pages (never sleeps). Returns undefined when
   * the queue is empty.
   */
  read(): Uint8Array | undefined {
    if (this.queueHead === this.queue.length) return undefined;
    const skb = this.queue[this.queueHead] as HeldSkb;
    this.queue[this.queueHead] = undefined as unknown as HeldSkb;
    this.queueHead++;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    this.release(skb);
    this.rmemAlloc -= skb.truesize;
    // tcp_cleanup_rbuf: a window that was nearly closed and is now open is worth an ACK.
    if (
      this.lastAdvertised < this.rcvbuf * 0.25 * this.scalingRatio &&
      this.rcvbuf - this.rmemAlloc >= this.rcvbuf / 2
    ) {
      this.host.windowOpened(this);
    }
    return skb.payload;
  }

  /** Sleeps until a message is readable (or the socket closes); resolves it or undefined. */
  async readWait(): Promise<Uint8Array | undefined> {
    for (;;) {
      const m = this.read();
      if (m || this.closed) return m;
      await this.readable.wait();
    }
  }

  /**
   * The send path: allocates the skb in the caller's context with sk_allocation,
   * charges tcp_mem, queues it on the flow and holds it until acknowledged. Sleeps
   * while the send buffer is full or memory is short (sk_stream_wait_memory).
   * Resolves false if the socket closed first.
   */
  async send(payload: Uint8Array, ctx: AllocContext): Promise<boolean> {
    const truesize = skbTruesize(payload.length);
    const pages = skbPages(payload.length);
    for (;;) {
      if (this.closed) return false;
      if (this.wmemQueued < this.sndbuf && this.chargeSend(pages, truesize)) {
        // Claim the send buffer before the allocation may sleep: concurrent senders
        // must not all pass the check above.
        this.wmemQueued += truesize;
        const held = await this.allocPages(pages, ctx);
        if (held && !this.closed) {
          const pfmemalloc = held.pfPages > 0;
          this.flow.send(payload, {
            payload,
            truesize,
            pages,
            pfPages: held.pfPages,
            pfmemalloc,
            charged: pages,
          });
          return true;
        }
        this.wmemQueued -= truesize;
        this.host.tcpMem.uncharge(this, pages);
        if (held) freeSkbPages(this.host.allocator, held);
        // No memory: wait a little (sk_stream_wait_memory's short random wait) or for an ACK.
        await this.writeSpace.wait(50);
        continue;
      }
      await this.writeSpace.wait(200);
    }
  }

  /**
   * sk_wmem_schedule, or sk_forced_mem_schedule for an skb into empty write and
   * retransmit queues when the era has it: such a socket can always send one skb.
   */
  private chargeSend(pages: number, truesize: number): boolean {
    if (
      this.host.era.forcedFirstSendSkb &&
      this.wmemQueued === 0 &&
      this.flow.unacked === 0 &&
      this.flow.queued === 0
    ) {
      this.host.tcpMem.force(this, pages);
      return true;
    }
    return this.host.tcpMem.charge(this, pages, 'send', truesize);
  }

  /** Closes the socket: frees everything it holds, stops its timers, wakes sleepers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.flow.close()) {
      this.release(m.tag);
      this.wmemQueued -= m.tag.truesize;
    }
    while (this.read() !== undefined) {
      /* free every queued skb */
    }
    this.host.tcpMem.sockets--;
    this.readable.wakeAll();
    this.writeSpace.wakeAll();
  }

  /** Allocates the pages of a send skb with sk_allocation in the sender's context; all or nothing. */
  private async allocPages(pages: number, ctx: AllocContext): Promise<SkbPages | undefined> {
    const req = { gfp: this.allocation, ctx, use: 'skb' } as const;
    let pfPages = 0;
    for (let got = 0; got < pages; got++) {
      const r =
        this.host.allocator.tryAlloc(req) ??
        (gfpAllowsBlocking(this.allocation) ? await this.host.allocator.alloc(req) : undefined);
      if (!r?.ok) {
        freeSkbPages(this.host.allocator, { pages: got, pfPages });
        return undefined;
      }
      if (r.pfmemalloc) pfPages++;
    }
    return { pages, pfPages };
  }

  /**
   * Frees skbs the peer acknowledged. tcp_new_space: a send buffer that
   * sk_stream_moderate_sndbuf shrank grows back (tcp_sndbuf_expand, to the size it was
   * opened with here) only when tcp_should_expand_sndbuf allows it: TCP not under memory
   * pressure and tcp_mem below its first limit.
   */
  private acked(done: readonly SentMessage<HeldSkb>[]): void {
    for (const m of done) {
      this.release(m.tag);
      this.wmemQueued -= m.tag.truesize;
    }
    const tcpMem = this.host.tcpMem;
    if (this.sndbuf < this.sndbufInitial && !tcpMem.pressure && tcpMem.allocated < tcpMem.limits[0])
      this.sndbuf = this.sndbufInitial;
    if (this.writeSpace.waiters > 0) this.writeSpace.wakeAll();
  }

  private release(skb: HeldSkb): void {
    freeSkbPages(this.host.allocator, skb);
    if (skb.charged > 0) this.host.tcpMem.uncharge(this, skb.charged);
  }
}
