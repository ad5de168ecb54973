// The fault gate of a machine (DESIGN.md section 8): the one implementation of the fault
// modes, for every engine and every caller (a scenario's timeline, `swapnet fault`).
// Every frame connection of the machine, accepted or outgoing, goes through it
// (gated-connection.ts), so one fault applies to all of them until heal(). It works on
// whole decoded frames, never on a byte stream, in model time (the injected scheduler);
// with no fault active a frame costs one null check.
import type { Scheduler } from '../../reserve/clock.ts';
import { ERROR_CODES, SwapnetError } from '../../reserve/errors.ts';
import { createRng, type Rng } from '../../reserve/rng.ts';
import { ControlError } from './control-error.ts';
import type { MachineLog } from './machine-log.ts';
import type { NetLink, Network } from './network.ts';

/** The modes the gate applies itself. `pause` and `netns` belong to the orchestrator. */
export const GATE_MODES = ['stall', 'blackhole', 'reset', 'loss', 'delay'] as const;
export type GateMode = (typeof GATE_MODES)[number];
/** Every fault mode a request may name (the `fault.mode` knob's values). */
export type FaultMode = GateMode | 'pause' | 'netns';
export const FAULT_DIRECTIONS = ['in', 'out', 'both'] as const;
export type FaultDirection = (typeof FAULT_DIRECTIONS)[number];

/**
 * What apply() is asked for. Parameters default to the node's knobs (`fault.lossRate`,
 * `fault.delayMs`, `fault.jitterMs`) and its `--seed`; those of other modes are ignored.
 */
export interface FaultRequest {
  readonly mode: FaultMode;
  readonly direction?: FaultDirection | undefined;
  /** loss: probability in [0, 1] that a frame is dropped. */
  readonly lossRate?: number | undefined;
  /** delay: latency added to every frame (ms of wall time). */
  readonly delayMs?: number | undefined;
  /** delay: uniform jitter in [0, jitterMs) added on top (ms). */
  readonly jitterMs?: number | undefined;
  /** loss and delay: seed of the random choices (same seed, same choices). */
  readonly seed?: number | undefined;
}

/** The fault in force, as /status and the control endpoints show it. */
export type ActiveFault = {
  readonly direction: FaultDirection;
  /** When it was applied (ISO 8601 wall clock in a process; model time in a simulation). */
  readonly since: string;
} & (
  | { readonly mode: 'stall' | 'blackhole' | 'reset' }
  | { readonly mode: 'loss'; readonly lossRate: number; readonly seed: number }
  | {
      readonly mode: 'delay';
      readonly delayMs: number;
      readonly jitterMs: number;
      readonly seed: number;
    }
);

/** Frames in one direction. */
export interface DirectionCounts {
  in: number;
  out: number;
}

/** What the gate did since the node started (monotonic). */
export interface FaultCounters {
  /** Frames thrown away, by mode and direction. */
  readonly dropped: { readonly blackhole: DirectionCounts; readonly loss: DirectionCounts };
  /**
   * Outgoing frames held by a stall and written at heal. A stall inward holds bytes in
   * the socket, unread: they are never frames here, so there is nothing to count.
   */
  readonly held: { readonly stall: { out: number } };
  /** Frames delivered late by a delay. */
  readonly delayed: { readonly delay: DirectionCounts };
  /** Connections reset by a `reset` fault, and connections refused while it lasted. */
  readonly connections: { reset: number; refused: number };
}

/** The gate's state: what the control endpoints return and /status shows as `fault`. */
export interface FaultGateState {
  readonly active: ActiveFault | null;
  /** Frame connections going through the gate now. */
  readonly connections: number;
  readonly counters: FaultCounters;
}

/** The fault as the hot path reads it: flags precomputed, its own seeded generator. */
export interface LiveFault {
  readonly mode: GateMode;
  readonly in: boolean;
  readonly out: boolean;
  readonly lossRate: number;
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly rng: Rng;
  readonly view: ActiveFault;
}

/** One connection behind the gate (implemented by GatedConnection). */
export interface GateMember {
  readonly link: NetLink;
  /** The fault started: stop reading when it stalls inbound. */
  faultStarted(fault: LiveFault): void;
  /** The fault ended: resume reading, write held frames, deliver delayed ones, in order. */
  faultEnded(fault: LiveFault): void;
  /** Drops whatever the member still holds (its connection closed). */
  discard(): void;
}

/**
 * What the active fault does to one message crossing the gate in one direction: `pass`
 * it, `drop` it, `hold` it until heal (a stall outward: the sender is told "backed up"),
 * `delay` it by `ms`, or nothing at all because the connection is being `reset`.
 */
export type MessageFate =
  | { readonly kind: 'pass' | 'drop' | 'hold' | 'reset' }
  | { readonly kind: 'delay'; readonly ms: number };

const PASS: MessageFate = { kind: 'pass' };
const DROP: MessageFate = { kind: 'drop' };
const HOLD: MessageFate = { kind: 'hold' };
const RESET: MessageFate = { kind: 'reset' };

/** The stable code of a connect refused by this node's own `reset` fault. */
export const FAULT_REFUSED_CODE = ERROR_CODES.faultRefused;

/** An outgoing connect refused because a `reset` fault is active on this node. */
export class FaultRefusedError extends SwapnetError {
  constructor(host: string, port: number) {
    super(
      FAULT_REFUSED_CODE,
      `connect to ${host}:${port} refused: a reset fault is active on this node`,
    );
  }
}

/** The reason a reset fault gives its connections (Connection's `closed` reports it). */
export const FAULT_RESET_REASON = 'fault-reset';

const NOT_GATE_MODES: Readonly<Record<'pause' | 'netns', string>> = {
  pause:
    'mode "pause" is not applied inside a node: the orchestrator stops the whole process ' +
    'with SIGSTOP and heals it with SIGCONT (a stopped node could not answer this request)',
  netns:
    'mode "netns" is not applied inside a node: it takes a real link down between network ' +
    'namespaces, which the orchestrator sets up (Linux, root)',
};

export interface FaultGateOptions {
  /** Parameters a request leaves out (the node's knobs and seed). */
  readonly defaults: {
    readonly lossRate: number;
    readonly delayMs: number;
    readonly jitterMs: number;
    readonly seed: number;
  };
  readonly log: MachineLog;
  /** Where outgoing connections go through the gate. */
  readonly network: Network;
  /** Model time: delays, and a reset of a connection added while a reset is active. */
  readonly scheduler: Scheduler;
  /** The `since` of a fault applied now. */
  readonly stamp: () => string;
}

export class FaultGate {
  private live: LiveFault | null = null;
  private readonly members = new Set<GateMember>();
  readonly counters: FaultCounters = {
    dropped: { blackhole: { in: 0, out: 0 }, loss: { in: 0, out: 0 } },
    held: { stall: { out: 0 } },
    delayed: { delay: { in: 0, out: 0 } },
    connections: { reset: 0, refused: 0 },
  };

  constructor(private readonly options: FaultGateOptions) {}

  /** The machine's scheduler (delay lines run on it). */
  get scheduler(): Scheduler {
    return this.options.scheduler;
  }

  /** The fault in force, or null: the one check every frame pays. */
  get fault(): LiveFault | null {
    return this.live;
  }

  /**
   * The fate of one message (a frame, an NBD request or reply) under `fault` going `dir`,
   * counted in the gate's counters: the one place the per-message fault modes live, for
   * every protocol that crosses the gate. Inward, a stall passes what was read before the
   * socket stopped reading; outward it holds.
   */
  fate(fault: LiveFault, dir: 'in' | 'out'): MessageFate {
    if (!fault[dir]) return PASS;
    const c = this.counters;
    switch (fault.mode) {
      case 'stall':
        if (dir === 'in') return PASS;
        c.held.stall.out++;
        return HOLD;
      case 'blackhole':
        c.dropped.blackhole[dir]++;
        return DROP;
      case 'loss':
        if (!fault.rng.chance(fault.lossRate)) return PASS;
        c.dropped.loss[dir]++;
        return DROP;
      case 'delay':
        c.delayed.delay[dir]++;
        return { kind: 'delay', ms: fault.delayMs + fault.rng.next() * fault.jitterMs };
      case 'reset':
        return RESET;
    }
  }

  /** True while a `reset` fault refuses connections. */
  get refusing(): boolean {
    return this.live?.mode === 'reset';
  }

  /**
   * Replaces the active fault (healing it first) and returns the new state. Throws
   * ControlError(400) for `pause` and `netns`, which are not applied inside a node, and for
   * a reset with a direction other than both.
   */
  apply(request: FaultRequest): FaultGateState {
    const { mode } = request;
    if (mode === 'pause' || mode === 'netns') throw new ControlError(400, NOT_GATE_MODES[mode]);
    const direction = request.direction ?? 'both';
    if (mode === 'reset' && direction !== 'both') {
      throw new ControlError(
        400,
        `direction: "${direction}" is not accepted for mode "reset": a reset closes whole connections (use "both")`,
      );
    }
    this.heal();
    const d = this.options.defaults;
    const seed = request.seed ?? d.seed;
    const lossRate = request.lossRate ?? d.lossRate;
    const delayMs = request.delayMs ?? d.delayMs;
    const jitterMs = request.jitterMs ?? d.jitterMs;
    const since = this.options.stamp();
    const view: ActiveFault =
      mode === 'loss'
        ? { mode, direction, since, lossRate, seed }
        : mode === 'delay'
          ? { mode, direction, since, delayMs, jitterMs, seed }
          : { mode, direction, since };
    const fault: LiveFault = {
      mode,
      in: direction !== 'out',
      out: direction !== 'in',
      lossRate,
      delayMs,
      jitterMs,
      rng: createRng(seed),
      view,
    };
    this.live = fault;
    this.options.log.warn({ fault: view, connections: this.members.size }, 'fault applied');
    if (mode === 'reset') {
      for (const m of [...this.members]) this.reset(m);
    } else {
      for (const m of this.members) m.faultStarted(fault);
    }
    return this.state();
  }

  /** Ends the active fault, if any: held and delayed frames go out in order. */
  heal(): FaultGateState {
    const fault = this.live;
    if (fault) {
      this.live = null;
      for (const m of [...this.members]) m.faultEnded(fault);
      this.options.log.warn({ fault: fault.view }, 'fault healed');
    }
    return this.state();
  }

  state(): FaultGateState {
    return {
      active: this.live?.view ?? null,
      connections: this.members.size,
      counters: structuredClone(this.counters),
    };
  }

  /**
   * Whether an accepted link may proceed; while a reset fault is active it is reset at
   * once (counted as refused) and false is returned: the caller drops it.
   */
  admit(link: NetLink): boolean {
    if (!this.refusing) return true;
    this.counters.connections.refused++;
    link.close(FAULT_RESET_REASON, { reset: true });
    return false;
  }

  /**
   * Connects through the gate: rejects with FaultRefusedError (code FAULT_REFUSED_CODE)
   * while a reset fault is active, also when it started during the connect; otherwise
   * like the network's connect().
   */
  async connect(host: string, port: number): Promise<NetLink> {
    if (this.refusing) {
      this.counters.connections.refused++;
      throw new FaultRefusedError(host, port);
    }
    const link = await this.options.network.connect(host, port);
    if (this.refusing) {
      this.counters.connections.refused++;
      link.close(FAULT_RESET_REASON, { reset: true });
      throw new FaultRefusedError(host, port);
    }
    return link;
  }

  /**
   * Adds a connection (GatedConnection's constructor does). Callers admit() or connect()
   * first; a reset that is somehow active already resets it on a later turn, so that its
   * `closed` event never fires inside the caller's constructor.
   */
  add(member: GateMember): void {
    this.members.add(member);
    const fault = this.live;
    if (!fault) return;
    if (fault.mode === 'reset') {
      this.options.scheduler.schedule(0, () => {
        if (this.members.has(member) && this.refusing) this.reset(member);
      });
    } else {
      member.faultStarted(fault);
    }
  }

  /** Removes a closed connection and drops what it held. */
  remove(member: GateMember): void {
    if (this.members.delete(member)) member.discard();
  }

  /** Drops everything held and stops every timer (node shutdown). */
  stop(): void {
    this.live = null;
    for (const m of this.members) m.discard();
    this.members.clear();
  }

  private reset(member: GateMember): void {
    this.counters.connections.reset++;
    // The link's close reports to its Connection, whose `closed` removes the member.
    member.link.close(FAULT_RESET_REASON, { reset: true });
  }
}
