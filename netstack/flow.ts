// Emulated TCP for one flow (one direction's sender plus the other's receiver state):
// byte sequence numbers, cumulative ACKs, the peer's advertised window, retransmission
// on timeout with capped exponential back-off (go-back-N), fast retransmit on three
// duplicate ACKs, zero-window probes, and duplicate suppression. The real TCP
// connection underneath never loses bytes; loss happens in A's receive path. Pure:
// time from the injected scheduler, frames out through the injected transmit().
import type { Scheduler, Timer } from '../reserve/clock.ts';
import { FRAME_FLAG, FRAME_TYPE, type Frame, type FrameFields } from './frame.ts';
import { seqAdd, seqLe, seqLt } from './seq.ts';

/** A message handed to send(); `tag` is the owner's (e.g. the skb pages it holds). */
export interface SentMessage<Tag = unknown> {
  seq: number;
  readonly payload: Uint8Array;
  readonly tag: Tag;
}

export interface RtoOptions {
  /** First timeout (TCP_RTO_MIN on a fast path: 200 ms). */
  readonly minMs: number;
  /** Back-off cap (Linux: TCP_RTO_MAX = 120 s; swapnet defaults lower, see README). */
  readonly maxMs: number;
}

export const DEFAULT_RTO: RtoOptions = { minMs: 200, maxMs: 3000 };

export interface FlowOptions<Tag> {
  readonly flowId: number;
  readonly scheduler: Scheduler;
  /** Puts a frame on the link. Returns false when the link is backed up: call pump() on drain. */
  readonly transmit: (frame: FrameFields) => boolean;
  /** The receive window this side advertises now (bytes). */
  readonly window: () => number;
  readonly rto?: RtoOptions;
  /** A hostile sender: send regardless of the peer's window. */
  readonly ignoreWindow?: boolean;
  /** The peer's window before its first ACK. */
  readonly initialPeerWindow?: number;
  /** Messages fully acknowledged by the peer, oldest first. */
  readonly onAcked?: (messages: readonly SentMessage<Tag>[]) => void;
  /**
   * Queues this flow on the owner's shared delayed-ACK timer (which then calls
   * delayedAckExpired()). Without it the flow arms a timer of its own.
   */
  readonly delayAck?: (flow: Flow<Tag>) => void;
  /** An ACK became owed (the owner will flushAck() at the end of its batch). */
  readonly ackOwed?: (flow: Flow<Tag>) => void;
}

export type Arrival = 'in-order' | 'duplicate' | 'out-of-order';

export interface FlowCounters {
  sent: number;
  retransmitted: number;
  rtoFires: number;
  fastRetransmits: number;
  probes: number;
  acksSent: number;
}

const DUPACK_THRESHOLD = 3;
/** TCP_DELACK_MIN: the longest a lone in-order segment waits for its ACK. */
export const DELACK_MS = 40;

export interface FlowView extends FlowCounters {
  readonly established: boolean;
  readonly sndUna: number;
  readonly sndNxt: number;
  /** The right edge of the peer's window: sndNxt may not pass it. */
  readonly sndWndEdge: number;
  readonly rcvNxt: number;
  readonly unackedMessages: number;
  readonly waitingMessages: number;
  readonly rtoMs: number;
  readonly timerArmed: boolean;
  readonly backedUp: boolean;
}

export class Flow<Tag = unknown> {
  readonly flowId: number;
  /** Oldest unacknowledged byte we sent. */
  sndUna = 0;
  /** Next byte we send. */
  sndNxt = 0;
  /** Next byte we expect from the peer. */
  rcvNxt = 0;
  readonly counters: FlowCounters = {
    sent: 0,
    retransmitted: 0,
    rtoFires: 0,
    fastRetransmits: 0,
    probes: 0,
    acksSent: 0,
  };
  private sndWndEdge: number;
  private readonly waiting: SentMessage<Tag>[] = [];
  private waitingHead = 0;
  private readonly inFlight: SentMessage<Tag>[] = [];
  private inFlightHead = 0;
  private rtoMs: number;
  /**
   * The retransmission (or probe) timer. Every new ACK restarts it, so instead of a
   * cancel and a new timer per ACK it runs lazily: `timerDue` is when it is due (undefined:
   * stopped) and the scheduled `timer`, when it fires early, re-arms itself for the rest.
   */
  private timer: Timer | undefined;
  private timerDue: number | undefined;
  private timerAt = 0;
  private dupAcks = 0;
  private recoverPoint = 0;
  private ackPending = false;
  /** In-order segments received since our last ACK. */
  private unackedSegments = 0;
  private delackTimer: Timer | undefined;
  private blocked = false;
  private closed = false;
  private readonly opts: FlowOptions<Tag>;
  private readonly rto: RtoOptions;
  /** Set once the peer has sent anything on this flow (its end exists). */
  established = false;
  private openTimer: Timer | undefined;

  constructor(options: FlowOptions<Tag>) {
    this.opts = options;
    this.flowId = options.flowId;
    this.rto = options.rto ?? DEFAULT_RTO;
    this.rtoMs = this.rto.minMs;
    this.sndWndEdge = options.initialPeerWindow ?? 65535;
  }

  /** Bytes sent and not yet acknowledged. */
  get bytesInFlight(): number {
    return (this.sndNxt - this.sndUna) >>> 0;
  }

  /** Messages queued for sending and not yet sent. */
  get queued(): number {
    return this.waiting.length - this.waitingHead;
  }

  /** Messages sent and not yet acknowledged. */
  get unacked(): number {
    return this.inFlight.length - this.inFlightHead;
  }

  /** The current retransmission timeout (grows with back-off). */
  get currentRtoMs(): number {
    return this.rtoMs;
  }

  /** What `ss -ti` would show of this flow: sequence state, timers, counters. */
  view(): FlowView {
    return {
      established: this.established,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      sndWndEdge: this.sndWndEdge,
      rcvNxt: this.rcvNxt,
      unackedMessages: this.unacked,
      waitingMessages: this.queued,
      rtoMs: this.rtoMs,
      timerArmed: this.timerDue !== undefined,
      backedUp: this.blocked,
      ...this.counters,
    };
  }

  /**
   * Announces the flow to the peer (OPEN, the emulated SYN) and repeats it, with the
   * retransmission back-off, until the peer answers on the flow. Data waits for that
   * answer, which carries the peer's window.
   */
  open(): void {
    if (this.closed || this.established) return;
    // No data before the peer's answer (the SYN-ACK) tells us its window.
    this.sndWndEdge = this.sndNxt;
    this.opts.transmit({ type: FRAME_TYPE.OPEN, flowId: this.flowId, window: this.opts.window() });
    let delay = this.rto.minMs;
    const again = (): void => {
      this.openTimer = this.opts.scheduler.schedule(delay, () => {
        if (this.closed || this.established) return;
        this.counters.retransmitted++;
        this.opts.transmit({
          type: FRAME_TYPE.OPEN,
          flowId: this.flowId,
          window: this.opts.window(),
        });
        delay = Math.min(delay * 2, this.rto.maxMs);
        again();
      });
    };
    again();
  }

  /** Queues a message; it goes out when the window and the link allow. */
  send(payload: Uint8Array, tag: Tag): void {
    if (this.closed) return;
    this.waiting.push({ seq: 0, payload, tag });
    // While the link is backed up, messages wait here until pump() is called on drain.
    if (!this.blocked) this.transmitWaiting();
  }

  /** The link drained: send what the window and the link allow. */
  pump(): void {
    this.blocked = false;
    this.transmitWaiting();
  }

  /** True while the link is backed up (write returned false and no drain yet). */
  get backedUp(): boolean {
    return this.blocked;
  }

  private transmitWaiting(): void {
    while (!this.closed && !this.blocked && this.waitingHead < this.waiting.length) {
      const msg = this.waiting[this.waitingHead] as SentMessage<Tag>;
      const end = seqAdd(this.sndNxt, msg.payload.length);
      if (!this.opts.ignoreWindow && !seqLe(end, this.sndWndEdge)) break;
      this.waitingHead++;
      msg.seq = this.sndNxt;
      this.sndNxt = end;
      this.inFlight.push(msg);
      this.counters.sent++;
      this.transmitData(msg, 0);
    }
    this.compact();
    this.armTimer();
  }

  /** Where an arriving data frame falls relative to what we expect. */
  classify(seq: number, length: number): Arrival {
    if (seq === this.rcvNxt) return 'in-order';
    if (seqLe(seqAdd(seq, length), this.rcvNxt) || seqLt(seq, this.rcvNxt)) return 'duplicate';
    return 'out-of-order';
  }

  /**
   * An in-order payload of `length` bytes was queued by the receiver: advance. Like
   * the kernel's delayed ACK, every second segment is acknowledged at the next flush;
   * a lone one waits for the delayed-ACK timer (TCP_DELACK_MIN, 40 ms).
   */
  accept(length: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, length);
    this.unackedSegments++;
    if (this.unackedSegments >= 2) this.owe();
    else this.armDelayedAck();
  }

  /** Something the sender must hear now (a refused or out-of-order frame, a window update): quick ACK. */
  requestAck(): void {
    this.owe();
  }

  private owe(): void {
    if (this.ackPending) return;
    this.ackPending = true;
    this.opts.ackOwed?.(this);
  }

  /** Sends the owed ACK, if any (the owner calls this after a batch of frames). */
  flushAck(): void {
    if (!this.ackPending || this.closed) return;
    this.sendAck();
  }

  private sendAck(): void {
    this.ackPending = false;
    this.unackedSegments = 0;
    this.delackTimer?.cancel();
    this.delackTimer = undefined;
    this.counters.acksSent++;
    this.opts.transmit({
      type: FRAME_TYPE.ACK,
      flowId: this.flowId,
      ack: this.rcvNxt,
      window: this.opts.window(),
    });
  }

  /** The delayed-ACK timer ran out: acknowledge a lone segment still unacknowledged. */
  delayedAckExpired(): void {
    if (this.unackedSegments > 0 && !this.closed) this.sendAck();
  }

  private armDelayedAck(): void {
    if (this.opts.delayAck) {
      this.opts.delayAck(this);
      return;
    }
    if (this.delackTimer || this.closed) return;
    this.delackTimer = this.opts.scheduler.schedule(DELACK_MS, () => {
      this.delackTimer = undefined;
      if (this.unackedSegments > 0 && !this.closed) this.sendAck();
    });
  }

  /** Processes the ack and window fields of any frame from the peer (tcp_ack). */
  onPeerAck(frame: Frame): void {
    if (!this.established) {
      this.established = true;
      this.openTimer?.cancel();
      this.openTimer = undefined;
    }
    if (frame.flags & FRAME_FLAG.PROBE) this.owe();
    const ack = frame.ack;
    if (seqLt(this.sndNxt, ack)) return; // acks data never sent: ignore
    const edge = seqAdd(ack, frame.window);
    if (seqLt(this.sndUna, ack)) {
      const done: SentMessage<Tag>[] = [];
      while (this.inFlightHead < this.inFlight.length) {
        const m = this.inFlight[this.inFlightHead] as SentMessage<Tag>;
        if (!seqLe(seqAdd(m.seq, m.payload.length), ack)) break;
        done.push(m);
        this.inFlightHead++;
      }
      this.sndUna = ack;
      this.dupAcks = 0;
      this.rtoMs = this.rto.minMs;
      this.sndWndEdge = edge;
      this.timerDue = undefined;
      if (done.length > 0) this.opts.onAcked?.(done);
      if (!this.blocked) this.transmitWaiting();
      this.armTimer();
      return;
    }
    const windowChanged = edge !== this.sndWndEdge;
    this.sndWndEdge = edge;
    if (
      frame.type === FRAME_TYPE.ACK &&
      !windowChanged &&
      this.unacked > 0 &&
      frame.payload.length === 0
    ) {
      this.dupAcks++;
      if (this.dupAcks === DUPACK_THRESHOLD && seqLe(this.recoverPoint, this.sndUna)) {
        this.counters.fastRetransmits++;
        this.recoverPoint = this.sndNxt;
        this.retransmitAll();
      }
    }
    if (windowChanged && !this.blocked) this.transmitWaiting();
  }

  /**
   * Stops timers and hands back every message still queued or unacknowledged, so the
   * owner can free what they hold. The flow sends nothing more.
   */
  close(): SentMessage<Tag>[] {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerDue = undefined;
    this.delackTimer?.cancel();
    this.delackTimer = undefined;
    this.openTimer?.cancel();
    this.openTimer = undefined;
    const left = [
      ...this.inFlight.slice(this.inFlightHead),
      ...this.waiting.slice(this.waitingHead),
    ];
    this.inFlight.length = 0;
    this.inFlightHead = 0;
    this.waiting.length = 0;
    this.waitingHead = 0;
    return left;
  }

  private transmitData(msg: SentMessage<Tag>, flags: number): void {
    this.ackPending = false;
    this.unackedSegments = 0;
    const ok = this.opts.transmit({
      type: FRAME_TYPE.DATA,
      flags,
      flowId: this.flowId,
      seq: msg.seq,
      ack: this.rcvNxt,
      window: this.opts.window(),
      payload: msg.payload,
    });
    if (!ok) this.blocked = true;
  }

  /** Go-back-N: resend every unacknowledged message from the oldest, while the link takes them. */
  private retransmitAll(): void {
    for (let i = this.inFlightHead; i < this.inFlight.length && !this.closed; i++) {
      this.counters.retransmitted++;
      this.transmitData(this.inFlight[i] as SentMessage<Tag>, FRAME_FLAG.RETRANSMIT);
      if (this.blocked) break;
    }
  }

  private armTimer(): void {
    if (this.timerDue !== undefined || this.closed) return;
    const needRto = this.unacked > 0;
    const needProbe = !needRto && this.queued > 0;
    if (!needRto && !needProbe) return;
    this.timerDue = this.opts.scheduler.now() + this.rtoMs;
    // A timer still set for a backed-off RTO would fire too late for this one.
    if (this.timer && this.timerAt > this.timerDue) {
      this.timer.cancel();
      this.timer = undefined;
    }
    if (!this.timer) this.scheduleTimer(this.rtoMs);
  }

  private scheduleTimer(delayMs: number): void {
    this.timerAt = this.opts.scheduler.now() + delayMs;
    this.timer = this.opts.scheduler.schedule(delayMs, this.timerFired);
  }

  private readonly timerFired = (): void => {
    this.timer = undefined;
    if (this.closed || this.timerDue === undefined) return;
    const early = this.timerDue - this.opts.scheduler.now();
    if (early > 0) {
      this.scheduleTimer(early);
      return;
    }
    this.timerDue = undefined;
    if (this.unacked > 0) {
      this.counters.rtoFires++;
      this.retransmitAll();
    } else if (this.queued > 0) {
      this.counters.probes++;
      this.opts.transmit({
        type: FRAME_TYPE.ACK,
        flags: FRAME_FLAG.PROBE,
        flowId: this.flowId,
        ack: this.rcvNxt,
        window: this.opts.window(),
      });
    }
    this.rtoMs = Math.min(this.rtoMs * 2, this.rto.maxMs);
    this.armTimer();
  };

  private compact(): void {
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    if (this.inFlightHead > 1024 && this.inFlightHead * 2 > this.inFlight.length) {
      this.inFlight.splice(0, this.inFlightHead);
      this.inFlightHead = 0;
    }
  }
}
