// Machine B, the flooder, as an object with no I/O of its own: `flood.connections`
// connections to A's service, one emulated flow on each, kept full so that B sends as
// fast as A's advertised windows (or, hostile, its own sockets) and the optional
// `flood.rate` cap allow. Retransmission is the flow's; a connection that fails or
// closes is reopened after a capped back-off, so a partitioned or restarted A never stops
// B. Pacing, refills and back-off all run on the injected scheduler.
import type { CloseReason } from '../../netstack/connection.ts';
import type { Flow, SentMessage } from '../../netstack/flow.ts';
import { writeU32 } from '../../netstack/frame.ts';
import { PeerStack } from '../../netstack/peer-stack.ts';
import { afterCurrent, type Timer } from '../../reserve/clock.ts';
import { invariant } from '../../reserve/errors.ts';
import type { FaultGate, FaultGateState } from './fault-gate.ts';
import type { HostPort } from './frame-acceptor.ts';
import { GatedConnection } from './gated-connection.ts';
import { gateFor, type MachineContext } from './machine-context.ts';
import type { NetLink } from './network.ts';
import { RateWindow } from './rate-window.ts';

/** Messages a flow may hold queued behind a closed window before B stops making more. */
const QUEUE_TARGET = 32;
/** Frames one refill pass may hand to a flow before yielding to the event loop. */
const MAX_FRAMES_PER_TURN = 64;
/**
 * B's send buffer per flow: unacknowledged data kept for retransmission, like sk_sndbuf,
 * which grows at most to tcp_wmem[2] (4 MiB). All flows together keep at most 64 MiB, so
 * that B's memory stays bounded when it ignores the window and A acknowledges nothing.
 */
export function floodSndbufBytes(connections: number): number {
  const perFlowMax = 4 * 1024 * 1024;
  const total = 64 * 1024 * 1024;
  return Math.max(64 * 1024, Math.min(perFlowMax, Math.floor(total / Math.max(1, connections))));
}
/** Reconnect back-off (model time): first delay, doubling per failure in a row, capped. */
export const RECONNECT_MIN_MS = 100;
export const RECONNECT_MAX_MS = 5000;
/** Connections listed one by one in /status; the rest are only counted. */
const STATUS_CONNECTIONS = 64;
/** How many acknowledged payload buffers B keeps for reuse. */
const SPARE_PAYLOADS = 4096;

type SlotState = 'connecting' | 'open' | 'backoff' | 'stopped';

/** One live connection: the socket, its frame stream, the emulated stack and the flow. */
interface Live {
  readonly link: NetLink;
  readonly connection: GatedConnection;
  readonly stack: PeerStack;
  readonly flow: Flow;
  /** Index stamped into the next new payload (per connection, from 0). */
  nextIndex: number;
  /** Rate tokens requested from the shared queue and not yet used. */
  pendingTokens: number;
}

/** One of the `flood.connections` connection slots; it outlives the connections it opens. */
interface Slot {
  readonly index: number;
  readonly flowId: number;
  state: SlotState;
  live: Live | undefined;
  /** Failures since the last connection A acknowledged data on (drives the back-off). */
  failuresInARow: number;
  reconnects: number;
  lastError: string | undefined;
  /** Counters of this slot's closed connections (live ones are read from their flow). */
  closedSent: number;
  closedRetransmitted: number;
  closedRtoFires: number;
  bytesAcked: number;
  reconnectTimer: Timer | undefined;
  refill: Timer | undefined;
}

/** The summary of one connection in /status. */
export interface FloodConnectionStatus {
  readonly slot: number;
  readonly flowId: number;
  readonly state: SlotState;
  readonly framesSent: number;
  readonly retransmits: number;
  readonly bytesAcked: number;
  readonly bytesInFlight: number;
  readonly queued: number;
  readonly reconnects: number;
  readonly lastError: string | null;
}

/** B's /status. */
export interface FloodStatus {
  readonly node: 'b';
  readonly peer: string;
  readonly connections: { readonly configured: number; readonly open: number };
  readonly framesSent: number;
  readonly bytesAcked: number;
  readonly retransmits: number;
  readonly rtoFires: number;
  readonly reconnects: number;
  readonly ignoreWindow: boolean;
  readonly rate: number;
  readonly payloadBytes: number;
  readonly perConnection: readonly FloodConnectionStatus[];
  /** Connections left out of perConnection (it lists at most 64). */
  readonly perConnectionOmitted: number;
  /** B's fault gate: the active fault and what it did. */
  readonly fault: FaultGateState;
}

/** The counters B's metrics read. */
export interface FloodCounters {
  readonly framesSent: number;
  readonly retransmits: number;
  readonly rtoFires: number;
  readonly bytesAcked: number;
  readonly reconnects: number;
  readonly open: number;
  readonly bytesInFlight: number;
  readonly disconnects: ReadonlyMap<string, number>;
}

/** Machine B: the flooder. */
export interface MachineB {
  readonly gate: FaultGate;
  status(): FloodStatus;
  counters(): FloodCounters;
  healthy(): { ok: boolean; connections: number; configured: number };
  stop(): Promise<void>;
}

const formatHostPort = (hp: HostPort): string =>
  hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;

/**
 * The fixed-window rate limit for `rate` frames per second: windows of at
 * least 10 ms holding an integer cap, so that `intervalCap / interval` is the rate exactly
 * and a burst is at most one window's cap. `rate` must be finite and above 0 (the knob
 * schema allows 0, which means no cap: callers do not ask then).
 */
export function rateLimit(rate: number): { intervalCap: number; interval: number } {
  invariant(
    rate > 0 && Number.isFinite(rate),
    () => `flood.rate ${rate}: expected a finite rate above 0`,
  );
  const intervalCap = Math.max(1, Math.ceil(rate / 100));
  return { intervalCap, interval: (intervalCap * 1000) / rate };
}

/**
 * Starts B: opens every connection to `peer` in the background and returns at once (B is
 * ready before A is reachable; it keeps trying). stop() closes every connection and
 * cancels every timer; nothing is sent after it returns.
 */
export function startMachineB(ctx: MachineContext, opts: { readonly peer: HostPort }): MachineB {
  const { log, scheduler } = ctx;
  const peer = opts.peer;
  const gate = gateFor(ctx);
  const knobs = ctx.knobs;
  const connections = knobs['flood.connections'];
  const ignoreWindow = knobs['flood.ignoreWindow'];
  const rate = knobs['flood.rate'];
  const payloadBytes = knobs['flood.payloadBytes'];
  const sndbuf = floodSndbufBytes(connections);
  const rto = { minMs: knobs['net.rtoMinMs'], maxMs: knobs['net.rtoMaxMs'] };
  const limit = rate > 0 ? rateLimit(rate) : undefined;
  const queue = limit ? new RateWindow(scheduler, limit.intervalCap, limit.interval) : undefined;
  const disconnects = new Map<string, number>();
  let stopped = false;

  const slots: Slot[] = Array.from({ length: connections }, (_, index) => ({
    index,
    flowId: index + 1,
    state: 'connecting',
    live: undefined,
    failuresInARow: 0,
    reconnects: 0,
    lastError: undefined,
    closedSent: 0,
    closedRetransmitted: 0,
    closedRtoFires: 0,
    bytesAcked: 0,
    reconnectTimer: undefined,
    refill: undefined,
  }));

  const sum = (f: (s: Slot) => number): number => slots.reduce((n, s) => n + f(s), 0);
  const slotSent = (s: Slot): number => s.closedSent + (s.live?.flow.counters.sent ?? 0);
  const slotRetransmitted = (s: Slot): number =>
    s.closedRetransmitted + (s.live?.flow.counters.retransmitted ?? 0);
  const slotRtoFires = (s: Slot): number =>
    s.closedRtoFires + (s.live?.flow.counters.rtoFires ?? 0);
  const openCount = (): number => slots.filter((s) => s.state === 'open').length;

  /**
   * Buffers of acknowledged messages, for the next ones: once A has acknowledged a message
   * the flow never sends it again and its frame was encoded from a copy. (A 4 KiB
   * allocation a message cost more than the rest of sending it.)
   */
  const spare: Uint8Array[] = [];
  /** A payload: the connection's message index in its first 4 bytes (when it fits), zeros after. */
  const payload = (live: Live): Uint8Array => {
    const p = spare.pop() ?? new Uint8Array(payloadBytes);
    if (payloadBytes >= 4) writeU32(p, 0, live.nextIndex);
    live.nextIndex = (live.nextIndex + 1) >>> 0;
    return p;
  };

  /** Whether B may hand another message to the flow now (socket and send buffer allow). */
  const mayQueue = (live: Live): boolean =>
    !live.connection.closed &&
    !live.link.backedUp &&
    live.flow.bytesInFlight + (live.flow.queued + 1) * payloadBytes <= sndbuf;

  /** Hands one new message to the flow, which sends it when A's window (or ignoreWindow) allows. */
  const sendOne = (slot: Slot, live: Live): void => {
    if (stopped || slot.live !== live || !mayQueue(live)) return;
    live.flow.send(payload(live), undefined);
  };

  /**
   * Tops the flow's queue up to QUEUE_TARGET (through rate tokens when flood.rate is set).
   * Deferred to its own event-loop turn: it may be asked for while a received chunk is
   * being processed, when the connection collects writes instead of making them.
   */
  const scheduleRefill = (slot: Slot): void => {
    if (stopped || slot.refill || !slot.live) return;
    slot.refill = scheduler.schedule(0, () => {
      slot.refill = undefined;
      refill(slot);
    });
  };

  const refill = (slot: Slot): void => {
    const live = slot.live;
    if (stopped || !live) return;
    let budget = MAX_FRAMES_PER_TURN;
    while (budget > 0 && live.flow.queued + live.pendingTokens < QUEUE_TARGET && mayQueue(live)) {
      budget--;
      if (queue) {
        live.pendingTokens++;
        queue.add(() => {
          live.pendingTokens--;
          sendOne(slot, live);
          scheduleRefill(slot);
        });
      } else {
        sendOne(slot, live);
      }
    }
    // Out of budget with room left (ignoring the window, A keeps up): go on next turn.
    if (budget === 0) scheduleRefill(slot);
  };

  const scheduleReconnect = (slot: Slot): void => {
    if (stopped) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** slot.failuresInARow);
    slot.failuresInARow++;
    slot.state = 'backoff';
    slot.reconnectTimer = scheduler.schedule(delay, () => {
      slot.reconnectTimer = undefined;
      slot.reconnects++;
      void connect(slot);
    });
  };

  const closed = (slot: Slot, live: Live, reason: CloseReason): void => {
    if (slot.live !== live) return;
    slot.closedSent += live.flow.counters.sent;
    slot.closedRetransmitted += live.flow.counters.retransmitted;
    slot.closedRtoFires += live.flow.counters.rtoFires;
    slot.live = undefined;
    live.stack.closeAll();
    slot.refill?.cancel();
    slot.refill = undefined;
    if (stopped) return;
    slot.lastError = reason;
    disconnects.set(reason, (disconnects.get(reason) ?? 0) + 1);
    log[slot.failuresInARow === 0 ? 'warn' : 'debug'](
      { slot: slot.index, reason },
      'flood connection closed; reconnecting',
    );
    scheduleReconnect(slot);
  };

  const connect = async (slot: Slot): Promise<void> => {
    if (stopped) return;
    slot.state = 'connecting';
    let link: NetLink;
    try {
      // Through the gate: a reset fault on B refuses the connect (and the slot backs off).
      link = await gate.connect(peer.host, peer.port);
    } catch (err) {
      if (stopped) return;
      const reason = (err as { code?: string }).code ?? 'connect-failed';
      slot.lastError = reason;
      disconnects.set(reason, (disconnects.get(reason) ?? 0) + 1);
      log[slot.failuresInARow === 0 ? 'warn' : 'debug'](
        { slot: slot.index, reason, peer: formatHostPort(peer) },
        'flood connect failed; retrying',
      );
      scheduleReconnect(slot);
      return;
    }
    if (stopped) {
      link.close('shutdown');
      return;
    }
    if (link.closed) {
      slot.lastError = 'peer-closed';
      scheduleReconnect(slot);
      return;
    }
    // The connection's events use `live`, built below: they only fire on later turns.
    const connection = new GatedConnection(
      gate,
      link,
      {
        self: { role: 'b', token: ctx.token },
        expect: { token: ctx.token, roles: ['a'] },
        batchWrites: (run) => afterCurrent(scheduler, run),
      },
      {
        hello: () => {},
        frame: (frame) => live.stack.handleFrame(frame),
        batchEnd: () => live.stack.flushAcks(),
        closed: (reason) => closed(slot, live, reason),
      },
    );
    const stack = new PeerStack({
      scheduler,
      transmit: (frame) => connection.send(frame),
      rto,
      ignoreWindow,
    });
    const flow = stack.openFlow(slot.flowId, {
      message: () => {},
      acked: (messages: readonly SentMessage[]) => {
        let bytes = 0;
        for (const m of messages) {
          bytes += m.payload.length;
          if (spare.length < SPARE_PAYLOADS) spare.push(m.payload);
        }
        slot.bytesAcked += bytes;
        // A accepted this connection and took data: the next failure starts the back-off over.
        slot.failuresInARow = 0;
        scheduleRefill(slot);
      },
    });
    const live: Live = { link, connection, stack, flow, nextIndex: 0, pendingTokens: 0 };
    slot.live = live;
    slot.state = 'open';
    link.onDrain = () => {
      if (slot.live !== live) return;
      live.stack.pumpAll();
      scheduleRefill(slot);
    };
    log.debug({ slot: slot.index, link: link.label }, 'flood connection open');
    scheduleRefill(slot);
  };

  for (const slot of slots) void connect(slot);
  log.info(
    { peer: formatHostPort(peer), connections, ignoreWindow, rate, payloadBytes },
    'flooding',
  );

  return {
    gate,
    counters: () => ({
      framesSent: sum(slotSent),
      retransmits: sum(slotRetransmitted),
      rtoFires: sum(slotRtoFires),
      bytesAcked: sum((s) => s.bytesAcked),
      reconnects: sum((s) => s.reconnects),
      open: openCount(),
      bytesInFlight: sum((s) => s.live?.flow.bytesInFlight ?? 0),
      disconnects,
    }),
    healthy: () => ({ ok: !stopped, connections: openCount(), configured: connections }),
    status: (): FloodStatus => ({
      node: 'b',
      peer: formatHostPort(peer),
      connections: { configured: connections, open: openCount() },
      framesSent: sum(slotSent),
      bytesAcked: sum((s) => s.bytesAcked),
      retransmits: sum(slotRetransmitted),
      rtoFires: sum(slotRtoFires),
      reconnects: sum((s) => s.reconnects),
      ignoreWindow,
      rate,
      payloadBytes,
      perConnection: slots.slice(0, STATUS_CONNECTIONS).map((s) => ({
        slot: s.index,
        flowId: s.flowId,
        state: s.state,
        framesSent: slotSent(s),
        retransmits: slotRetransmitted(s),
        bytesAcked: s.bytesAcked,
        bytesInFlight: s.live?.flow.bytesInFlight ?? 0,
        queued: s.live?.flow.queued ?? 0,
        reconnects: s.reconnects,
        lastError: s.lastError ?? null,
      })),
      perConnectionOmitted: Math.max(0, slots.length - STATUS_CONNECTIONS),
      fault: gate.state(),
    }),
    async stop() {
      stopped = true;
      queue?.clear();
      for (const slot of slots) {
        slot.state = 'stopped';
        slot.reconnectTimer?.cancel();
        slot.reconnectTimer = undefined;
        slot.refill?.cancel();
        slot.refill = undefined;
        const live = slot.live;
        if (live) {
          closed(slot, live, 'shutdown');
          live.connection.close('shutdown');
        }
      }
      log.info({ framesSent: sum(slotSent) }, 'flood stopped');
      gate.stop();
    },
  };
}
