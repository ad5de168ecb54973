// A frame connection behind the node's fault gate: a Connection whose received frames
// and sent frames pass the gate (stall, blackhole, loss, delay per direction). Every
// frame connection of a node is built here, accepted or outgoing, so a fault applies to
// all of them. Frames leave the gate in the order they entered it.
import {
  Connection,
  type CloseReason,
  type ConnectionEvents,
  type ConnectionOptions,
} from '../../netstack/connection.ts';
import type { Frame, FrameFields } from '../../netstack/frame.ts';
import type { Hello } from '../../netstack/hello.ts';
import type { Scheduler, Timer } from '../../reserve/clock.ts';
import type { FaultGate, GateMember, LiveFault } from './fault-gate.ts';
import type { NetLink } from './network.ts';

/**
 * Items released in order at max(previous release, now + delay): a delay line that
 * never reorders. Model time (the injected scheduler), re-armed when a timer fires early.
 */
export class DelayLine<T> {
  private items: { readonly at: number; readonly item: T }[] = [];
  private head = 0;
  private last = 0;
  private timer: Timer | undefined;

  /** `release` gets every item due, oldest first. */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly release: (items: readonly T[]) => void,
  ) {}

  push(item: T, delayMs: number): void {
    const at = Math.max(this.last, this.scheduler.now() + delayMs);
    this.last = at;
    this.items.push({ at, item });
    if (!this.timer) this.arm();
  }

  /** Releases everything still waiting, now, in order. */
  flush(): void {
    // Taken before cancel(), which empties the line.
    const due = this.items.slice(this.head).map((e) => e.item);
    this.cancel();
    if (due.length > 0) this.release(due);
  }

  /** Drops everything still waiting. */
  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.items = [];
    this.head = 0;
  }

  private arm(): void {
    const next = this.items[this.head];
    if (!next) return;
    this.timer = this.scheduler.schedule(Math.max(0, next.at - this.scheduler.now()), () =>
      this.fire(),
    );
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.scheduler.now();
    const due: T[] = [];
    while (this.head < this.items.length) {
      const e = this.items[this.head] as { at: number; item: T };
      if (e.at > now) break;
      due.push(e.item);
      this.head++;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    if (due.length > 0) this.release(due);
    this.arm();
  }
}

export class GatedConnection implements GateMember {
  readonly connection: Connection;
  /** Outgoing frames held by a stall, written in order at heal. */
  private held: FrameFields[] = [];
  private readonly delayedIn: DelayLine<Frame>;
  private readonly delayedOut: DelayLine<FrameFields>;

  /**
   * Builds the Connection on `link` (which writes our HELLO) and adds it to `gate`.
   * Callers pass a link from gate.connect() or one gate.admit() accepted. `events` fire
   * as for a bare Connection, with the gate's faults applied to frames.
   */
  constructor(
    private readonly gate: FaultGate,
    readonly link: NetLink,
    options: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.delayedIn = new DelayLine(gate.scheduler, (frames) => {
      for (const f of frames) {
        if (this.connection.closed) return;
        events.frame(f);
      }
      events.batchEnd();
    });
    this.delayedOut = new DelayLine(gate.scheduler, (frames) => {
      for (const f of frames) this.connection.send(f);
    });
    this.connection = new Connection(link, options, {
      hello: (peer) => events.hello(peer),
      frame: (f) => {
        const fault = gate.fault;
        if (fault === null) events.frame(f);
        else this.receiveFaulty(fault, f);
      },
      batchEnd: () => events.batchEnd(),
      closed: (reason) => {
        gate.remove(this);
        events.closed(reason);
      },
    });
    gate.add(this);
  }

  get closed(): boolean {
    return this.connection.closed;
  }

  get peerHello(): Hello | undefined {
    return this.connection.peerHello;
  }

  /**
   * Sends a frame through the gate; false when the link is backed up, or while a stall
   * holds outgoing frames (the caller waits for link.onDrain, called again at heal).
   */
  send(fields: FrameFields): boolean {
    const fault = this.gate.fault;
    if (fault === null) return this.connection.send(fields);
    return this.sendFaulty(fault, fields);
  }

  close(reason: CloseReason): void {
    this.connection.close(reason);
  }

  faultStarted(fault: LiveFault): void {
    if (fault.mode === 'stall' && fault.in) this.link.setReading(false);
  }

  faultEnded(fault: LiveFault): void {
    if (this.connection.closed) return;
    switch (fault.mode) {
      case 'stall': {
        if (fault.in) this.link.setReading(true);
        if (fault.out) {
          const held = this.held;
          this.held = [];
          let ok = true;
          for (const f of held) ok = this.connection.send(f);
          // Senders told "backed up" wait for a drain: give them one unless the socket
          // itself is backed up now (its own drain event will come).
          if (held.length > 0 && ok) this.link.onDrain();
        }
        return;
      }
      case 'delay':
        this.delayedIn.flush();
        this.delayedOut.flush();
        return;
      default:
        return;
    }
  }

  discard(): void {
    this.held = [];
    this.delayedIn.cancel();
    this.delayedOut.cancel();
  }

  private receiveFaulty(fault: LiveFault, f: Frame): void {
    const fate = this.gate.fate(fault, 'in');
    if (fate.kind === 'pass') this.events.frame(f);
    else if (fate.kind === 'delay') this.delayedIn.push(f, fate.ms);
  }

  private sendFaulty(fault: LiveFault, f: FrameFields): boolean {
    if (fault.out && this.connection.closed) return false;
    const fate = this.gate.fate(fault, 'out');
    switch (fate.kind) {
      case 'pass':
        return this.connection.send(f);
      case 'hold':
        this.held.push(f);
        return false;
      case 'delay':
        this.delayedOut.push(f, fate.ms);
        return true;
      case 'drop':
        return true;
      case 'reset':
        return false;
    }
  }
}
