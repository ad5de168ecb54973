// Machine A's network stack: the connections to B and C, the sockets on them, the
// one NIC queue every frame goes through (receive-path.ts), tcp_mem, and the ACKs A
// owes. Pure: frames come in through receive(), go out through each connection's
// send(); time from the model's scheduler.
import { __GFP, GFP, gfpOr, type GfpMask } from '../reserve/gfp.ts';
import type { MemCgroup } from '../reserve/memcg.ts';
import type { MemoryModel } from '../reserve/memory-model.ts';
import { deriveSysctls } from '../reserve/sysctl-defaults.ts';
import { PAGE_SIZE } from '../reserve/units.ts';
import { EmuSocket, type SocketHost, type SocketView } from './emu-socket.ts';
import type { EraKnobs } from './era.ts';
import { DELACK_MS, type RtoOptions } from './flow.ts';
import { FRAME_TYPE, type Frame, type FrameFields } from './frame.ts';
import { ReceivePath } from './receive-path.ts';
import { RxCounters, type SocketClass } from './socket-class.ts';
import { TcpMem } from './tcp-mem.ts';

/** Where A's frames go out: one real (or in-memory) connection. */
export interface FrameSink {
  send(frame: FrameFields): boolean;
}

export interface AStackOptions {
  readonly model: MemoryModel;
  readonly era: EraKnobs;
  /** net.ipv4.tcp_mem in pages; default derived from RAM the kernel's way. */
  readonly tcpMem?: readonly [number, number, number];
  /** Receive buffer of every socket (bytes); default tcp_rmem[1] of the era. */
  readonly rcvbuf?: number;
  /** Send buffer of sockets that do not set their own (bytes); default tcp_wmem[1]. */
  readonly sndbuf?: number;
  readonly rto?: RtoOptions;
  /**
   * 'never': the NIC allocates receive buffers with plain GFP_ATOMIC whatever the era
   * says, so none comes from the reserve and none is marked pfmemalloc (UML's vector
   * driver, prep_skb in arch/um/drivers/vector_kern.c). Default 'era'.
   */
  readonly nicReserve?: 'era' | 'never';
}

export interface OpenSocketOptions {
  readonly cls: SocketClass;
  readonly sndbuf?: number;
  /** sk_allocation; default GFP_KERNEL. */
  readonly allocation?: GfpMask;
}

/** One connection as A sees it: its flow table and the ACKs it owes. */
export class AConnection {
  readonly sockets = new Map<number, EmuSocket>();
  readonly owed = new Set<EmuSocket>();
  /** Called for each flow the peer opens (the listener's accept). */
  onAccept: (socket: EmuSocket) => void = () => {};
  /** What class a socket the peer opens gets. */
  acceptClass: SocketClass = 'service';
  /**
   * The memcg of the task that accepts the peer's flows (mem_cgroup_sk_alloc at accept):
   * their socket memory is charged there.
   */
  acceptMemcg: MemCgroup | null = null;
  closed = false;

  constructor(readonly sink: FrameSink) {}
}

export class AStack {
  readonly model: MemoryModel;
  readonly era: EraKnobs;
  readonly tcpMem: TcpMem;
  readonly rx = new RxCounters();
  readonly rxPath: ReceivePath;
  readonly rcvbuf: number;
  readonly sndbuf: number;
  private readonly rto: RtoOptions | undefined;
  private flushScheduled = false;
  /** Sockets owing a delayed ACK, and the one timer that sends them. */
  private readonly delayedAcks = new Set<EmuSocket>();
  private delackArmed = false;
  private readonly connections = new Set<AConnection>();

  constructor(options: AStackOptions) {
    this.model = options.model;
    this.era = options.era;
    const derived = deriveSysctls(this.model.zone.managedPages * PAGE_SIZE, {
      minFreeKbytes: this.model.zone.minFreeKbytes,
      caps: options.era.socketCaps,
    });
    this.tcpMem = new TcpMem(
      options.tcpMem ?? derived.tcpMem,
      derived.tcpRmem[0],
      derived.tcpWmem[0],
      options.era.sockMinSndbuf,
      {
        charge: (memcg, pages) => this.model.memcgs.chargeSkmem(memcg, pages),
        uncharge: (memcg, pages) => this.model.memcgs.unchargeSkmem(memcg, pages),
      },
    );
    this.rcvbuf = options.rcvbuf ?? derived.tcpRmem[1];
    this.sndbuf = options.sndbuf ?? derived.tcpWmem[1];
    this.rto = options.rto;
    const rxEra: EraKnobs =
      options.nicReserve === 'never' ? { ...this.era, rxReserve: 'never' } : this.era;
    this.rxPath = new ReceivePath(this.model, rxEra, this.tcpMem, this.rx);
  }

  /** Every open socket, as `ss -tmi` would show it. */
  socketViews(): SocketView[] {
    const out: SocketView[] = [];
    for (const conn of this.connections) for (const s of conn.sockets.values()) out.push(s.view());
    return out;
  }

  /** Registers a connection; frames from it must then go to receive(). */
  attach(sink: FrameSink): AConnection {
    const conn = new AConnection(sink);
    this.connections.add(conn);
    return conn;
  }

  /** The connection is gone: close its sockets (their pages are freed). */
  detach(conn: AConnection): void {
    conn.closed = true;
    for (const s of conn.sockets.values()) s.close();
    conn.sockets.clear();
    conn.owed.clear();
    this.connections.delete(conn);
  }

  /** Opens a socket on `conn` for a flow A starts (the swap connection). */
  openSocket(conn: AConnection, flowId: number, options: OpenSocketOptions): EmuSocket {
    const socket = this.makeSocket(conn, flowId, options.cls, options.sndbuf, options.allocation);
    socket.flow.open();
    return socket;
  }

  /**
   * sk_set_memalloc: marks the socket SOCK_MEMALLOC (its allocations add
   * __GFP_MEMALLOC) and enables sk_memalloc_socks(). False if the era has no memalloc
   * sockets.
   */
  setMemalloc(socket: EmuSocket): boolean {
    if (!this.era.memallocSockets || socket.memalloc) return socket.memalloc;
    socket.memalloc = true;
    socket.allocation = gfpOr(socket.allocation, __GFP.MEMALLOC);
    this.rxPath.memallocSockets++;
    return true;
  }

  /** The NIC: one frame from `conn`, in arrival order. */
  receive(conn: AConnection, frame: Frame): void {
    if (conn.closed) return;
    let socket = conn.sockets.get(frame.flowId);
    if (frame.type === FRAME_TYPE.OPEN) {
      if (socket) {
        // A repeated OPEN: our answer was lost; answer again.
        socket.flow.onPeerAck(frame);
        socket.flow.requestAck();
        return;
      }
      // The SYN costs an skb like any frame, judged against the listening socket.
      const listener = { cls: conn.acceptClass, memalloc: false, closed: false };
      const pfPages = this.rxPath.admit(frame, listener);
      if (pfPages < 0) return;
      this.rxPath.release(frame, pfPages);
      socket = this.makeSocket(conn, frame.flowId, conn.acceptClass);
      socket.memcg = conn.acceptMemcg;
      socket.flow.onPeerAck(frame);
      socket.flow.requestAck();
      conn.onAccept(socket);
      return;
    }
    if (frame.type === FRAME_TYPE.CLOSE) {
      if (socket) {
        socket.close();
        conn.sockets.delete(frame.flowId);
        conn.owed.delete(socket);
      }
      return;
    }
    this.rxPath.receive(frame, socket);
  }

  /** End of a received batch: send the ACKs owed on `conn`. */
  flush(conn: AConnection): void {
    for (const s of conn.owed) s.flow.flushAck();
    conn.owed.clear();
  }

  /** Every open socket (metrics, /status). */
  *sockets(): Iterable<EmuSocket> {
    for (const c of this.connections) yield* c.sockets.values();
  }

  private makeSocket(
    conn: AConnection,
    flowId: number,
    cls: SocketClass,
    sndbuf?: number,
    allocation?: GfpMask,
  ): EmuSocket {
    const host: SocketHost = {
      allocator: this.model.allocator,
      tcpMem: this.tcpMem,
      scheduler: this.model.scheduler,
      era: this.era,
      transmit: (f) => !conn.closed && conn.sink.send(f),
      windowOpened: (s) => {
        s.flow.requestAck();
        this.scheduleFlush();
      },
      ackOwed: (s) => conn.owed.add(s),
      delayAck: (s) => {
        this.delayedAcks.add(s);
        this.armDelack();
      },
    };
    const socket = new EmuSocket(host, {
      flowId,
      cls,
      rcvbuf: this.rcvbuf,
      sndbuf: sndbuf ?? this.sndbuf,
      allocation: allocation ?? GFP.KERNEL,
      ...(this.rto ? { rto: this.rto } : {}),
    });
    conn.sockets.set(flowId, socket);
    return socket;
  }

  private armDelack(): void {
    if (this.delackArmed) return;
    this.delackArmed = true;
    this.model.scheduler.schedule(DELACK_MS, () => {
      this.delackArmed = false;
      const due = [...this.delayedAcks];
      this.delayedAcks.clear();
      for (const s of due) s.flow.delayedAckExpired();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.model.scheduler.schedule(0, () => {
      this.flushScheduled = false;
      for (const c of this.connections) this.flush(c);
    });
  }
}
