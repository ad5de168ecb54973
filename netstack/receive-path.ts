// A's receive path, in kernel order (DESIGN.md section 4). Every frame from every
// connection goes through one NIC queue in arrival order:
//   1. allocate the skb in softirq context: GFP_ATOMIC (down to 3/8 of min), and where
//      the era allows, __GFP_MEMALLOC (the reserve; the skb is marked pfmemalloc);
//      no memory: drop `nomem` (no ACK: the sender retransmits);
//   2. demux to the flow's socket; a pfmemalloc skb for a socket without SOCK_MEMALLOC
//      is dropped at once (`pfmemalloc`) and freed;
//   3. TCP: the ack/window fields, then the data: duplicates and gaps are dropped and
//      re-ACKed; receive memory: the modern era force-charges the first skb of an empty
//      queue, else rcvbuf may refuse (`rcvbuf`, every socket), then tcp_mem (`proto_mem`),
//      except that a pfmemalloc skb (memalloc sockets only) passes tcp_mem uncharged;
//   4. queue on the socket and owe an ACK. The pages stay allocated until read.
// The NIC never looks at the socket before step 2: the counters' socket-class label is
// filled in afterwards and decides nothing.
import { __GFP, GFP, gfpOr, type GfpMask } from '../reserve/gfp.ts';
import type { MemoryModel } from '../reserve/memory-model.ts';
import type { AllocRequest } from '../reserve/page-allocator.ts';
import type { EmuSocket, HeldSkb } from './emu-socket.ts';
import type { EraKnobs } from './era.ts';
import { FRAME_TYPE, type Frame } from './frame.ts';
import { skbPages, skbTruesize } from './skb.ts';
import type { RxCounters, SocketClass } from './socket-class.ts';
import type { TcpMem } from './tcp-mem.ts';

const RX_GFP = GFP.ATOMIC;
const RX_GFP_MEMALLOC: GfpMask = gfpOr(GFP.ATOMIC, __GFP.MEMALLOC);

export type RxOutcome = 'queued' | 'consumed' | 'dropped';

/** What demux looks at: the socket's (or listener's) flags. */
export interface DemuxTarget {
  readonly cls: SocketClass;
  readonly memalloc: boolean;
  readonly closed: boolean;
}

export class ReceivePath {
  /** Sockets with SOCK_MEMALLOC (sk_memalloc_socks()). */
  memallocSockets = 0;

  private readonly reqAtomic: AllocRequest;
  private readonly reqMemalloc: AllocRequest;

  constructor(
    private readonly model: MemoryModel,
    private readonly era: EraKnobs,
    private readonly tcpMem: TcpMem,
    readonly counters: RxCounters,
  ) {
    const ctx = { exec: 'softirq', task: model.softirqTask } as const;
    this.reqAtomic = { gfp: RX_GFP, ctx, use: 'skb' };
    this.reqMemalloc = { gfp: RX_GFP_MEMALLOC, ctx, use: 'skb' };
  }

  /** The gfp mask of a receive allocation now. */
  rxGfp(): GfpMask {
    switch (this.era.rxReserve) {
      case 'always':
        return RX_GFP_MEMALLOC;
      case 'when-memalloc-sockets':
        return this.memallocSockets > 0 ? RX_GFP_MEMALLOC : RX_GFP;
      case 'never':
        return RX_GFP;
    }
  }

  /**
   * Steps 1 and 2 for a frame headed to `target` (a socket, or the listener for a SYN):
   * how many of the skb's skbPages(payload) pages came from the reserve, or -1 when the
   * frame was dropped (and counted). A number, not an object: this runs for every frame.
   */
  admit(frame: Frame, target: DemuxTarget | undefined): number {
    const cls: SocketClass = target?.cls ?? 'unknown';
    this.counters.packets[cls]++;
    // 1. The NIC allocates the skb, page by page (page frags).
    const pages = skbPages(frame.payload.length);
    const pfPages = this.allocPages(pages);
    if (pfPages < 0) {
      this.counters.drop('nomem', cls);
      return -1;
    }
    // 2. Demux.
    if (!target || target.closed) {
      this.freePages(pages, pfPages);
      this.counters.drop('no_socket', cls);
      return -1;
    }
    if (pfPages > 0 && !target.memalloc) {
      this.freePages(pages, pfPages);
      this.counters.drop('pfmemalloc', cls);
      return -1;
    }
    return pfPages;
  }

  /** Frees an admitted frame's pages (admit() returned `pfPages`). */
  release(frame: Frame, pfPages: number): void {
    this.freePages(skbPages(frame.payload.length), pfPages);
  }

  /**
   * Runs one frame through the whole receive path. `socket` is the flow's socket, if
   * any (looked up by the caller; used only from step 2 on).
   */
  receive(frame: Frame, socket: EmuSocket | undefined): RxOutcome {
    const pfPages = this.admit(frame, socket);
    if (pfPages < 0 || !socket) return 'dropped';
    const cls = socket.cls;
    const length = frame.payload.length;
    const pages = skbPages(length);
    const pfmemalloc = pfPages > 0;

    // 3. TCP: acknowledgements first (tcp_ack), then the data (tcp_data_queue).
    socket.flow.onPeerAck(frame);
    if (frame.type !== FRAME_TYPE.DATA) {
      this.freePages(pages, pfPages);
      return 'consumed';
    }
    const arrival = socket.flow.classify(frame.seq, length);
    if (arrival !== 'in-order') {
      this.freePages(pages, pfPages);
      socket.flow.requestAck();
      this.counters.drop(arrival === 'duplicate' ? 'duplicate' : 'out_of_order', cls);
      return 'dropped';
    }
    // tcp_data_queue: an in-order skb into an empty receive queue is force-charged
    // (sk_forced_mem_schedule, about 4.20+); otherwise tcp_try_rmem_schedule: the rcvbuf
    // test first, for every socket (tcp_prune_queue cannot get below rcvbuf: drop), then
    // sk_rmem_schedule, which charges tcp_mem normally and, when refused, still lets a
    // pfmemalloc skb in uncharged (only memalloc sockets get one past demux).
    let charged = 0;
    if (this.era.forcedFirstSkb && socket.queueEmpty) {
      this.tcpMem.force(socket, pages);
      charged = pages;
    } else if (socket.rmemAlloc > socket.rcvbuf) {
      this.freePages(pages, pfPages);
      socket.flow.requestAck();
      this.counters.drop('rcvbuf', cls);
      return 'dropped';
    } else if (this.tcpMem.charge(socket, pages, 'recv')) {
      charged = pages;
    } else if (!pfmemalloc) {
      this.freePages(pages, pfPages);
      socket.flow.requestAck();
      this.counters.drop('proto_mem', cls);
      return 'dropped';
    }

    // 4. Queue. The skb points into the received chunk (no copy), as an skb points
    //    into its driver page: decoders never reuse a buffer once it is handed out.
    const skb: HeldSkb = {
      payload: frame.payload,
      truesize: skbTruesize(length),
      pages,
      pfPages,
      pfmemalloc,
      charged,
    };
    socket.enqueue(skb);
    this.counters.delivered[cls]++;
    return 'queued';
  }

  /** Allocates `pages` receive pages, all or nothing: how many are pfmemalloc, or -1. */
  private allocPages(pages: number): number {
    const req = this.rxGfp() === RX_GFP ? this.reqAtomic : this.reqMemalloc;
    const allocator = this.model.allocator;
    let pfPages = 0;
    for (let got = 0; got < pages; got++) {
      const r = allocator.tryAlloc(req);
      if (!r?.ok) {
        this.freePages(got, pfPages);
        return -1;
      }
      if (r.pfmemalloc) pfPages++;
    }
    return pfPages;
  }

  private freePages(pages: number, pfPages: number): void {
    const allocator = this.model.allocator;
    if (pages > pfPages) allocator.free(pages - pfPages, 'skb', false);
    if (pfPages > 0) allocator.free(pfPages, 'skb', true);
  }
}
