// A's swap device driver: an NBD-like client behind the block layer. Reclaim hands it
// pages; each becomes a request that holds one of the queue's nr_requests (twice the
// device's tags with mq-deadline): a submitter that finds them all taken sleeps (D
// state) until a request completes. Requests wait in the I/O scheduler (reads before
// writes with mq-deadline, reserve/io-scheduler.ts) and are sent to C one at a time on
// the swap socket while a driver tag (swap.queueDepth) is free, by the driver under
// PF_MEMALLOC (so its skbs may use the reserve); a write's page stays in writeback until
// C's reply arrives. An optional dm-crypt stage takes a bounce page from a mempool
// first. If the connection drops, requests sent on it are requeued at the head and sent
// again on the next one.
import type { EmuSocket } from '../../netstack/emu-socket.ts';
import type { AnonMemory } from '../../reserve/anon-memory.ts';
import type { Scheduler } from '../../reserve/clock.ts';
import { GFP } from '../../reserve/gfp.ts';
import { IoScheduler, nrRequests, type IoSchedulerKind } from '../../reserve/io-scheduler.ts';
import type { Mempool } from '../../reserve/mempool.ts';
import { pageContentView } from '../../reserve/page-content.ts';
import type { SwapDevice, SwapWriteRequest } from '../../reserve/swap-device.ts';
import type { Task } from '../../reserve/task.ts';
import type { TransportBuffers } from '../../reserve/transport-buffers.ts';
import { WaitQueue } from '../../reserve/wait-queue.ts';
import {
  decodeSwapMessage,
  encodeRead,
  encodeWrite,
  SWAP_STATUS,
  type SwapStatus,
} from './swap-protocol.ts';

interface Request {
  readonly dir: 'write' | 'read';
  readonly page: number;
  readonly slot: number;
  readonly version: number;
  readonly handle: number;
  readonly payload: Uint8Array;
  /** The socket it was last sent on (undefined: not sent yet). */
  sentOn: EmuSocket | undefined;
  /** Model time of submission (ms), for the latency histogram. */
  readonly submittedAt: number;
  /** A dm-crypt bounce page is held until the request completes. */
  bounce: boolean;
  /** Transport buffers held for it: the reserve pages among them (undefined: none held). */
  transportPf?: number | undefined;
  readonly finish: (status: SwapStatus, data: Uint8Array | null) => void;
}

export interface SwapDriverStats {
  /** Requests the queue holds now (scheduler tags in use: waiting, sent or answered). */
  inFlight: number;
  /** Requests waiting in the I/O scheduler for the driver. */
  queued: number;
  /** Requests handed to the driver and not yet answered (driver tags in use). */
  dispatched: number;
  /** Submitters sleeping for a free tag now. */
  waitingSubmitters: number;
  writesCompleted: number;
  readsCompleted: number;
  errors: number;
  /** Replies for no request we know (after a reconnect, duplicates). */
  staleReplies: number;
  malformedReplies: number;
  resends: number;
  bounceAllocs: number;
}

export interface SwapDriverOptions {
  readonly anon: AnonMemory;
  readonly scheduler: Scheduler;
  /** The device's tags: requests sent to C and not yet answered, at most. */
  readonly queueDepth: number;
  /** The block layer's elevator in front of the device (default mq-deadline). */
  readonly ioScheduler?: IoSchedulerKind;
  /** The driver's own task (nbd0): PF_MEMALLOC, sends on its behalf. */
  readonly task: Task;
  /** dm-crypt: the bounce page pool and the kcryptd task that allocates from it. */
  readonly crypt?: { readonly pool: Mempool; readonly task: Task };
  /** Memory the transport allocates per request, held until the reply (writeout-starved). */
  readonly transport?: TransportBuffers;
  /** Observes each completed write's latency (seconds) and its completion (model ms). */
  readonly onWriteCompleted?: (seconds: number, atMs: number) => void;
}

const SPARE_WRITE_BUFFERS = 256;

export class SwapDriver implements SwapDevice {
  readonly stats: SwapDriverStats = {
    inFlight: 0,
    queued: 0,
    dispatched: 0,
    waitingSubmitters: 0,
    writesCompleted: 0,
    readsCompleted: 0,
    errors: 0,
    staleReplies: 0,
    malformedReplies: 0,
    resends: 0,
    bounceAllocs: 0,
  };
  /** The requests a queue holds at most (nr_requests): submitters sleep beyond it. */
  readonly nrRequests: number;
  private readonly elevator: IoScheduler<Request>;
  /** Sent (or being sent) and not yet answered, by handle. */
  private readonly inflight = new Map<number, Request>();
  /** Buffers of answered WRITEs, for the next ones (a 4 KiB allocation costs more than the copy). */
  private readonly spareWrites: Uint8Array[] = [];
  /** Submitters sleeping for a tag; woken one per completion. */
  private readonly tagWaiters: WaitQueue;
  private nextHandle = 1;
  private current: EmuSocket | undefined;
  /** Whether the dispatch loop runs (one request is handed to the socket at a time). */
  private dispatching = false;
  /** The kcryptd work queue: the end of the chain of bounce-page allocations. */
  private kcryptdTail: Promise<void> = Promise.resolve();
  private stopped = false;
  private crypt: SwapDriverOptions['crypt'];

  constructor(private readonly opts: SwapDriverOptions) {
    this.crypt = opts.crypt;
    const kind = opts.ioScheduler ?? 'mq-deadline';
    this.elevator = new IoScheduler<Request>(kind);
    this.nrRequests = nrRequests(kind, opts.queueDepth);
    this.tagWaiters = new WaitQueue(opts.scheduler);
  }

  /** Puts a dm-crypt stage in front of the device (before any request is submitted). */
  setCrypt(crypt: NonNullable<SwapDriverOptions['crypt']>): void {
    this.crypt = crypt;
  }

  /** Whether a swap connection is up. */
  get connected(): boolean {
    return this.current !== undefined && !this.current.closed;
  }

  /**
   * A (new) swap socket is connected: what was sent on an older one goes back to the
   * head of the scheduler's queue (the block layer's requeue), then replies are read.
   */
  attach(socket: EmuSocket): void {
    this.current = socket;
    const resend = [...this.inflight.values()].filter((r) => r.sentOn && r.sentOn !== socket);
    // All of them go back before any is dispatched (no kick per request): dispatching the
    // first one put back (the last sent) at once would send them in reverse order.
    for (const req of resend.reverse()) {
      this.inflight.delete(req.handle);
      req.sentOn = undefined;
      this.stats.dispatched--;
      this.stats.resends++;
      this.elevator.insert(req, true);
      this.stats.queued++;
    }
    void this.receiveLoop(socket);
    this.kick();
  }

  /** The swap connection is gone; requests wait for the next one. */
  detach(socket: EmuSocket): void {
    if (this.current === socket) this.current = undefined;
  }

  submitWrite(request: SwapWriteRequest, task: Task): Promise<void> {
    return this.submit(task, 'write', request.page, request.slot, request.version).then(
      () => undefined,
    );
  }

  async read(slot: number, page: number, task: Task): Promise<Uint8Array | 'error'> {
    return this.submit(task, 'read', page, slot, 0);
  }

  /** Stops sending; requests never complete after this (shutdown). */
  stop(): void {
    this.stopped = true;
    this.stats.queued -= this.elevator.clear().length;
    this.tagWaiters.wakeAll();
  }

  /**
   * Takes a tag (sleeping in D state while the queue holds nr_requests), then queues the
   * request. A write resolves once queued; a read resolves with the data.
   */
  private async submit(
    task: Task,
    dir: 'write' | 'read',
    page: number,
    slot: number,
    version: number,
  ): Promise<Uint8Array | 'error'> {
    while (this.stats.inFlight >= this.nrRequests && !this.stopped) {
      const previous = task.activity;
      task.setActivity('D:swap-queue', this.opts.scheduler.now());
      this.stats.waitingSubmitters++;
      await this.tagWaiters.wait();
      this.stats.waitingSubmitters--;
      task.setActivity(previous, this.opts.scheduler.now());
    }
    if (this.stopped) return 'error';
    this.stats.inFlight++;
    let settle!: (v: Uint8Array | 'error') => void;
    const result = new Promise<Uint8Array | 'error'>((resolve) => (settle = resolve));
    const handle = this.nextHandle++;
    const req: Request = {
      dir,
      page,
      slot,
      version,
      handle,
      payload:
        dir === 'write'
          ? encodeWrite(
              handle,
              slot,
              page,
              version,
              pageContentView(page, version),
              this.spareWrites.pop(),
            )
          : encodeRead(handle, slot, page),
      sentOn: undefined,
      submittedAt: this.opts.scheduler.now(),
      bounce: false,
      finish: (status, data) => {
        if (req.bounce) this.crypt?.pool.free();
        if (req.transportPf !== undefined) this.opts.transport?.release(req.transportPf);
        req.transportPf = undefined;
        this.stats.inFlight--;
        if (this.tagWaiters.waiters > 0) this.tagWaiters.wakeOne();
        if (dir === 'write') {
          this.opts.anon.writeoutDone(page, slot, status === SWAP_STATUS.OK);
          settle(new Uint8Array(0));
        } else {
          settle(status === SWAP_STATUS.OK && data ? data : 'error');
        }
      },
    };
    if (dir === 'write' && this.crypt) void this.encrypt(req, this.crypt);
    else this.enqueue(req);
    if (dir === 'write') return new Uint8Array(0);
    return result;
  }

  /**
   * dm-crypt: kcryptd takes a bounce page (GFP_NOIO, may wait on the pool), then submits.
   * One kcryptd thread works through the writes in order (its workqueue runs one item at
   * a time), so a sleep in its allocation delays every write behind it.
   */
  private async encrypt(req: Request, crypt: NonNullable<SwapDriverOptions['crypt']>) {
    const turn = this.kcryptdTail.then(() =>
      crypt.pool.alloc({ exec: 'task', task: crypt.task }, GFP.NOIO),
    );
    this.kcryptdTail = turn.then(() => undefined);
    await turn;
    req.bounce = true;
    this.stats.bounceAllocs++;
    if (this.stopped) return;
    this.enqueue(req);
  }

  private enqueue(req: Request, atHead = false): void {
    this.elevator.insert(req, atHead);
    this.stats.queued++;
    this.kick();
  }

  private kick(): void {
    if (!this.dispatching) void this.dispatchLoop();
  }

  /**
   * Hands requests to the socket one at a time, in the elevator's order, while a driver
   * tag is free: like nbd's queue_rq, a send that finds the socket's buffer full blocks
   * the dispatch of everything behind it (which the elevator may still reorder).
   */
  private async dispatchLoop(): Promise<void> {
    this.dispatching = true;
    try {
      while (!this.stopped && this.stats.dispatched < this.opts.queueDepth) {
        const socket = this.current;
        if (!socket || socket.closed) return;
        const req = this.elevator.dispatch();
        if (!req) return;
        this.stats.queued--;
        this.stats.dispatched++;
        if (this.opts.transport && req.transportPf === undefined) {
          const pf = await this.opts.transport.acquire(
            { exec: 'task', task: this.opts.task },
            () => this.stopped,
          );
          if (pf >= 0) req.transportPf = pf;
        }
        req.sentOn = socket;
        this.inflight.set(req.handle, req);
        const ok = await socket.send(req.payload, { exec: 'task', task: this.opts.task });
        if (!ok && req.sentOn === socket && this.inflight.delete(req.handle)) {
          // The socket closed under the send: back to the head, sent on the next one.
          req.sentOn = undefined;
          this.stats.dispatched--;
          this.elevator.insert(req, true);
          this.stats.queued++;
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Reads C's replies from one socket until it closes; each completes a request. */
  private async receiveLoop(socket: EmuSocket): Promise<void> {
    for (;;) {
      const msg = await socket.readWait();
      if (!msg) return;
      const m = decodeSwapMessage(msg);
      if (!m || m.op !== 'reply') {
        this.stats.malformedReplies++;
        continue;
      }
      const req = this.inflight.get(m.handle);
      if (!req) {
        this.stats.staleReplies++;
        continue;
      }
      this.inflight.delete(m.handle);
      this.stats.dispatched--;
      if (m.status !== SWAP_STATUS.OK) this.stats.errors++;
      if (req.dir === 'write') {
        this.stats.writesCompleted++;
        const now = this.opts.scheduler.now();
        this.opts.onWriteCompleted?.((now - req.submittedAt) / 1000, now);
      } else {
        this.stats.readsCompleted++;
      }
      // The data is a view of the received bytes, which nothing writes again (links and
      // sockets hand over fresh buffers): no copy needed to keep it until it is checked.
      req.finish(m.status, m.data);
      // C has answered, so this message's buffer can carry the next one: a retransmission
      // of it (the flow may not have seen C's ACK yet) is a duplicate C drops by its
      // sequence number, and every frame is encoded from a copy.
      if (req.dir === 'write' && this.spareWrites.length < SPARE_WRITE_BUFFERS)
        this.spareWrites.push(req.payload);
      this.kick();
    }
  }
}
