// A's swap device driver: an NBD-like client. Reclaim hands it pages; each becomes a
// request in a bounded queue (swap.queueDepth, like a block device's tags, run by
// p-queue): a submitter that finds the queue full sleeps (D state) until a request
// completes. Requests go to C on the swap socket, sent by the driver under PF_MEMALLOC
// (so its skbs may use the reserve); a write's page stays in writeback until C's reply
// arrives. An optional dm-crypt stage takes a bounce page from a mempool first. If the
// connection drops, requests in flight are sent again on the next one.
import PQueue from 'p-queue';
import type { EmuSocket } from '../netstack/emu-socket.ts';
import type { AnonMemory } from '../reserve/anon-memory.ts';
import type { Scheduler } from '../reserve/clock.ts';
import { GFP } from '../reserve/gfp.ts';
import type { Mempool } from '../reserve/mempool.ts';
import { pageContent } from '../reserve/page-content.ts';
import type { SwapDevice, SwapWriteRequest } from '../reserve/swap-device.ts';
import type { Task } from '../reserve/task.ts';
import {
  decodeSwapMessage,
  encodeRead,
  encodeWrite,
  SWAP_STATUS,
  type SwapStatus,
} from './swap-protocol.ts';

interface Request {
  readonly kind: 'write' | 'read';
  readonly page: number;
  readonly slot: number;
  readonly version: number;
  handle: number;
  payload: Uint8Array;
  /** The socket it was last sent on (undefined: not sent yet). */
  sentOn: EmuSocket | undefined;
  /** Wall time of submission (ms), for the latency histogram. */
  readonly submittedAt: number;
  finish: (status: SwapStatus, data: Uint8Array | null) => void;
}

export interface SwapDriverStats {
  /** Requests in the queue now (the device's tags in use). */
  inFlight: number;
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
  readonly queueDepth: number;
  /** The driver's own task (nbd0): PF_MEMALLOC, sends on its behalf. */
  readonly task: Task;
  /** dm-crypt: the bounce page pool and the kcryptd task that allocates from it. */
  readonly crypt?: { readonly pool: Mempool; readonly task: Task };
  /** Observes each completed write's latency (seconds) and wall completion time (ms). */
  readonly onWriteCompleted?: (seconds: number, atMs: number) => void;
}

export class SwapDriver implements SwapDevice {
  readonly stats: SwapDriverStats = {
    inFlight: 0,
    waitingSubmitters: 0,
    writesCompleted: 0,
    readsCompleted: 0,
    errors: 0,
    staleReplies: 0,
    malformedReplies: 0,
    resends: 0,
    bounceAllocs: 0,
  };
  private readonly queue: PQueue;
  private readonly inflight = new Map<number, Request>();
  private nextHandle = 1;
  private current: EmuSocket | undefined;
  private connectedWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly opts: SwapDriverOptions) {
    this.queue = new PQueue({ concurrency: opts.queueDepth });
  }

  /** Whether a swap connection is up. */
  get connected(): boolean {
    return this.current !== undefined && !this.current.closed;
  }

  /** A (new) swap socket is connected: resend what was in flight, then read replies. */
  attach(socket: EmuSocket): void {
    this.current = socket;
    for (const w of this.connectedWaiters.splice(0)) w();
    for (const req of this.inflight.values()) {
      if (req.sentOn && req.sentOn !== socket) {
        req.sentOn = undefined;
        this.stats.resends++;
        void this.transmit(req);
      }
    }
    void this.receiveLoop(socket);
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
    const done = await this.submit(task, 'read', page, slot, 0);
    return done;
  }

  /** Stops sending; requests never complete after this (shutdown). */
  stop(): void {
    this.stopped = true;
    this.queue.clear();
    for (const w of this.connectedWaiters.splice(0)) w();
  }

  /**
   * Takes a tag (sleeping while the queue is full), then starts the request. For a
   * write, resolves once queued; for a read, resolves with the data.
   */
  private async submit(
    task: Task,
    kind: 'write' | 'read',
    page: number,
    slot: number,
    version: number,
  ): Promise<Uint8Array | 'error'> {
    while (this.queue.pending + this.queue.size >= this.opts.queueDepth && !this.stopped) {
      const previous = task.activity;
      task.setActivity('D:swap-queue', this.opts.scheduler.now());
      this.stats.waitingSubmitters++;
      await new Promise<void>((resolve) => this.queue.once('next', () => resolve()));
      this.stats.waitingSubmitters--;
      task.setActivity(previous, this.opts.scheduler.now());
    }
    let settle!: (v: Uint8Array | 'error') => void;
    const result = new Promise<Uint8Array | 'error'>((resolve) => (settle = resolve));
    this.stats.inFlight++;
    void this.queue
      .add(() => this.execute(kind, page, slot, version, settle))
      .catch(() => settle('error'))
      .finally(() => this.stats.inFlight--);
    if (kind === 'write') return new Uint8Array(0);
    return result;
  }

  /** One request from tag to completion: bounce page, send, wait for C's reply. */
  private async execute(
    kind: 'write' | 'read',
    page: number,
    slot: number,
    version: number,
    settle: (v: Uint8Array | 'error') => void,
  ): Promise<void> {
    const crypt = this.opts.crypt;
    let bounce = false;
    if (kind === 'write' && crypt) {
      // kcryptd takes a bounce page for the encrypted copy (GFP_NOIO, may wait on the pool).
      await crypt.pool.alloc({ exec: 'task', task: crypt.task }, GFP.NOIO);
      bounce = true;
      this.stats.bounceAllocs++;
    }
    const handle = this.nextHandle++;
    const payload =
      kind === 'write'
        ? encodeWrite(handle, slot, page, version, pageContent(page, version))
        : encodeRead(handle, slot, page);
    const outcome = await new Promise<{ status: SwapStatus; data: Uint8Array | null }>(
      (resolve) => {
        const req: Request = {
          kind,
          page,
          slot,
          version,
          handle,
          payload,
          sentOn: undefined,
          submittedAt: performance.now(),
          finish: (status, data) => resolve({ status, data }),
        };
        this.inflight.set(handle, req);
        void this.transmit(req);
      },
    );
    if (bounce) crypt?.pool.free();
    if (kind === 'write') {
      this.opts.anon.writeoutDone(page, slot, outcome.status === SWAP_STATUS.OK);
      settle(new Uint8Array(0));
    } else {
      settle(outcome.status === SWAP_STATUS.OK && outcome.data ? outcome.data : 'error');
    }
  }

  /** Sends a request on the current socket, waiting for a connection if there is none. */
  private async transmit(req: Request): Promise<void> {
    while (!this.stopped && this.inflight.has(req.handle) && !req.sentOn) {
      const socket = this.current;
      if (!socket || socket.closed) {
        await new Promise<void>((resolve) => this.connectedWaiters.push(resolve));
        continue;
      }
      req.sentOn = socket;
      const ok = await socket.send(req.payload, { exec: 'task', task: this.opts.task });
      if (!ok && req.sentOn === socket) req.sentOn = undefined;
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
      if (m.status !== SWAP_STATUS.OK) this.stats.errors++;
      if (req.kind === 'write') {
        this.stats.writesCompleted++;
        this.opts.onWriteCompleted?.((performance.now() - req.submittedAt) / 1000, Date.now());
      } else {
        this.stats.readsCompleted++;
      }
      // Copy the data out: the skb's pages were freed by the read.
      req.finish(m.status, m.data ? m.data.slice() : null);
    }
  }
}
