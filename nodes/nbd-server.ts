// C's NBD listener: any Linux's nbd-client (the kernel's nbd.ko) can swap to C's store
// over real TCP, behind the same fault gate as C's frame connections. One export, the
// whole store: NBD byte offsets map to 4096-byte store slots; a block never written
// reads as zeros; requests that are not slot-aligned are served by read-modify-write
// of the slots they touch. Malformed traffic is counted and its connection closed; the
// listener keeps serving. The HELLO token cannot protect this port (a kernel client
// cannot send it): bind it to 127.0.0.1 or an address only the client can reach.
import type { Registry } from 'prom-client';
import { listenTcp, type TcpLink, type TcpListener } from '../netstack/tcp-link.ts';
import { PAGE_SIZE } from '../reserve/units.ts';
import type { Scheduler } from '../reserve/clock.ts';
import type { FaultGate, GateMember, LiveFault } from './machines/fault-gate.ts';
import { DelayLine } from './machines/gated-connection.ts';
import type { Logger } from './logger.ts';
import { counterFn, gaugeFn } from './metrics.ts';
import {
  decodeName,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeOptionReply,
  encodeServerName,
  encodeSimpleReply,
  NBD_CMD,
  NBD_CMD_FLAG_FUA,
  NBD_ERR,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_TRIM,
  NBD_INFO,
  NBD_MAX_PAYLOAD_BYTES,
  NBD_OPT,
  NBD_REP,
  NbdServerDecoder,
  parseInfoRequest,
  type NbdClientMessage,
  type NbdDecodeError,
} from './nbd-protocol.ts';
import type { HostPort } from './node-args.ts';
import { SWAP_STATUS } from './machines/swap-protocol.ts';
import type { SwapStore } from './swap-store.ts';

/** The export's name; the empty name (the protocol's default export) is accepted too. */
export const NBD_EXPORT_NAME = 'swapnet';
/** Transmission flags C offers: FLUSH and TRIM, no FUA (a write is in the file when answered). */
export const NBD_TRANSMISSION_FLAGS = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_TRIM;
/** Requests of one connection being served at once; beyond it C stops reading the socket. */
const MAX_IN_FLIGHT = 256;
/** A connection that has not reached transmission by then is closed (ms of wall time). */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Malformed streams logged at warn; the rest at debug. */
const MALFORMED_WARNINGS = 10;

const COMMAND_NAMES: Readonly<Record<number, string>> = {
  [NBD_CMD.READ]: 'read',
  [NBD_CMD.WRITE]: 'write',
  [NBD_CMD.DISC]: 'disc',
  [NBD_CMD.FLUSH]: 'flush',
  [NBD_CMD.TRIM]: 'trim',
};

export interface NbdServerOptions {
  readonly listen: HostPort;
  readonly store: SwapStore;
  readonly gate: FaultGate;
  /** C's scheduler: the gate's delays are in its time. */
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly handshakeTimeoutMs?: number;
}

/** What the NBD listener did since C started (monotonic, except `open`). */
export interface NbdStats {
  /** Connections that reached transmission. */
  transmissions: number;
  /** Connections open now. */
  open: number;
  /** Requests by command name ('other' for commands C does not serve). */
  readonly requests: Map<string, number>;
  /** Replies with an error, by errno name. */
  readonly errors: Map<string, number>;
  /** Streams closed as malformed, by reason. */
  readonly malformed: Map<string, number>;
  /** Connections refused: unknown export, handshake timeout, reset fault. */
  readonly refused: Map<string, number>;
}

export interface NbdServer {
  readonly host: string;
  readonly port: number;
  readonly stats: NbdStats;
  register(registry: Registry): void;
  /** Stops accepting, closes every connection, waits for requests being served. */
  close(): Promise<void>;
}

const bump = (m: Map<string, number>, key: string): void => {
  m.set(key, (m.get(key) ?? 0) + 1);
};

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(NBD_ERR).map(([name, n]) => [n, name.toLowerCase()]),
);

/** Runs operations on one slot in call order (a read-modify-write is not interleaved). */
class SlotLocks {
  private readonly tails = new Map<number, Promise<unknown>>();

  run<T>(slot: number, op: () => Promise<T>): Promise<T> {
    const before = this.tails.get(slot);
    const result = before ? before.then(op, op) : op();
    this.tails.set(slot, result);
    const done = (): void => {
      if (this.tails.get(slot) === result) this.tails.delete(slot);
    };
    result.then(done, done);
    return result;
  }
}

interface Shared {
  readonly scheduler: Scheduler;
  readonly store: SwapStore;
  readonly gate: FaultGate;
  readonly log: Logger;
  readonly stats: NbdStats;
  readonly locks: SlotLocks;
  readonly sizeBytes: number;
}

type Request = Extract<NbdClientMessage, { kind: 'request' }>;

class NbdConnection implements GateMember {
  private readonly decoder = new NbdServerDecoder();
  private noZeroes = false;
  private transmitting = false;
  private disconnecting = false;
  /** A handshake message waits in the delay line: later bytes must not be decoded yet. */
  private handshakeBlocked = false;
  private stalledIn = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly writesInFlight = new Set<Promise<unknown>>();
  private held: Uint8Array[] = [];
  private readonly delayedIn: DelayLine<NbdClientMessage>;
  private readonly delayedOut: DelayLine<Uint8Array>;
  private readonly deadline: NodeJS.Timeout;

  constructor(
    readonly link: TcpLink,
    private readonly s: Shared,
    handshakeTimeoutMs: number,
    onClosed: (c: NbdConnection) => void,
  ) {
    this.delayedIn = new DelayLine(s.scheduler, (msgs) => {
      for (const m of msgs) if (!link.closed) this.handle(m);
      this.pump();
    });
    this.delayedOut = new DelayLine(s.scheduler, (chunks) => {
      for (const c of chunks) link.write(c);
    });
    this.deadline = setTimeout(() => {
      if (!this.transmitting) {
        bump(s.stats.refused, 'handshake-timeout');
        link.close('nbd-handshake-timeout');
      }
    }, handshakeTimeoutMs);
    link.onData = (chunk) => {
      this.decoder.push(chunk);
      this.pump();
    };
    link.onDrain = () => this.pump();
    link.onClose = (reason) => {
      clearTimeout(this.deadline);
      if (this.transmitting) s.stats.open--;
      s.gate.remove(this);
      s.log.debug({ link: link.label, reason }, 'nbd connection closed');
      onClosed(this);
    };
    s.gate.add(this);
    this.send(encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES));
  }

  /** Resolves once every request being served has been answered. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.inFlight]);
  }

  faultStarted(fault: LiveFault): void {
    if (fault.mode === 'stall' && fault.in) {
      this.stalledIn = true;
      this.updateReading();
    }
  }

  faultEnded(fault: LiveFault): void {
    if (this.link.closed) return;
    if (fault.mode === 'stall') {
      if (fault.in) {
        this.stalledIn = false;
        this.updateReading();
        this.pump();
      }
      if (fault.out) {
        const held = this.held;
        this.held = [];
        for (const c of held) this.link.write(c);
      }
    } else if (fault.mode === 'delay') {
      this.delayedIn.flush();
      this.delayedOut.flush();
    }
  }

  discard(): void {
    this.held = [];
    this.delayedIn.cancel();
    this.delayedOut.cancel();
  }

  /** Decodes and dispatches whole messages while nothing holds them back. */
  private pump(): void {
    while (
      !this.link.closed &&
      !this.disconnecting &&
      !this.handshakeBlocked &&
      !this.stalledIn &&
      this.inFlight.size < MAX_IN_FLIGHT
    ) {
      const msg = this.decoder.next();
      if (msg === null) break;
      this.receive(msg);
    }
    this.updateReading();
  }

  /** The socket is read unless a stall, a full reply path or too many requests hold it. */
  private updateReading(): void {
    if (this.link.closed) return;
    const on =
      !this.stalledIn &&
      !this.disconnecting &&
      !this.link.backedUp &&
      this.inFlight.size < MAX_IN_FLIGHT;
    this.link.setReading(on);
  }

  /** An incoming message passes the gate (per message: the stream itself is never cut). */
  private receive(msg: NbdClientMessage): void {
    const fault = this.s.gate.fault;
    // A malformed stream is counted and closed whatever the fault.
    const fate = msg.kind === 'error' || fault === null ? null : this.s.gate.fate(fault, 'in');
    if (fate === null) {
      this.handle(msg);
      return;
    }
    if (fate.kind === 'pass') this.handle(msg);
    else if (fate.kind === 'delay') {
      // The handshake's phase switch must happen before later bytes are decoded.
      if (!this.transmitting) this.handshakeBlocked = true;
      this.delayedIn.push(msg, fate.ms);
    }
  }

  /** An outgoing message passes the gate. */
  private send(bytes: Uint8Array): void {
    const fault = this.s.gate.fault;
    const fate = fault === null ? null : this.s.gate.fate(fault, 'out');
    if (fate === null || fate.kind === 'pass') this.link.write(bytes);
    else if (fate.kind === 'hold') this.held.push(bytes);
    else if (fate.kind === 'delay') this.delayedOut.push(bytes, fate.ms);
  }

  private handle(msg: NbdClientMessage): void {
    this.handshakeBlocked = false;
    switch (msg.kind) {
      case 'error':
        this.malformed(msg.reason);
        return;
      case 'client-flags':
        this.noZeroes = (msg.flags & NBD_FLAG_C_NO_ZEROES) !== 0;
        return;
      case 'option':
        this.option(msg.option, msg.data);
        return;
      case 'request':
        this.request(msg);
        return;
    }
  }

  private malformed(reason: NbdDecodeError): void {
    bump(this.s.stats.malformed, reason);
    const n = [...this.s.stats.malformed.values()].reduce((a, b) => a + b, 0);
    this.s.log[n <= MALFORMED_WARNINGS ? 'warn' : 'debug'](
      { link: this.link.label, reason },
      'malformed nbd traffic: connection closed',
    );
    this.link.close(reason);
  }

  private exportKnown(name: string | null): boolean {
    return name === NBD_EXPORT_NAME || name === '';
  }

  private startTransmission(): void {
    this.transmitting = true;
    this.decoder.startTransmission();
    clearTimeout(this.deadline);
    this.s.stats.transmissions++;
    this.s.stats.open++;
    this.s.log.info({ link: this.link.label }, 'nbd client in transmission');
  }

  private option(option: number, data: Uint8Array): void {
    const reply = (type: number, payload?: Uint8Array): void =>
      this.send(encodeOptionReply(option, type, payload));
    switch (option) {
      case NBD_OPT.EXPORT_NAME: {
        // No way to answer an error here (the protocol's oldest option): close.
        if (!this.exportKnown(decodeName(data))) {
          bump(this.s.stats.refused, 'unknown-export');
          this.link.close('nbd-unknown-export');
          return;
        }
        this.send(encodeExportNameReply(this.s.sizeBytes, NBD_TRANSMISSION_FLAGS, this.noZeroes));
        this.startTransmission();
        return;
      }
      case NBD_OPT.ABORT:
        reply(NBD_REP.ACK);
        this.link.close('nbd-abort');
        return;
      case NBD_OPT.LIST:
        if (data.length > 0) {
          reply(NBD_REP.ERR_INVALID);
          return;
        }
        reply(NBD_REP.SERVER, encodeServerName(NBD_EXPORT_NAME));
        reply(NBD_REP.ACK);
        return;
      case NBD_OPT.INFO:
      case NBD_OPT.GO: {
        const req = parseInfoRequest(data);
        if (req === null) {
          reply(NBD_REP.ERR_INVALID);
          return;
        }
        if (!this.exportKnown(req.name)) {
          reply(NBD_REP.ERR_UNKNOWN);
          return;
        }
        reply(NBD_REP.INFO, encodeInfoExport(this.s.sizeBytes, NBD_TRANSMISSION_FLAGS));
        if (req.infos.includes(NBD_INFO.BLOCK_SIZE)) {
          reply(NBD_REP.INFO, encodeInfoBlockSize(1, PAGE_SIZE, NBD_MAX_PAYLOAD_BYTES));
        }
        reply(NBD_REP.ACK);
        if (option === NBD_OPT.GO) this.startTransmission();
        return;
      }
      default:
        reply(NBD_REP.ERR_UNSUP);
        return;
    }
  }

  private request(r: Request): void {
    const stats = this.s.stats;
    bump(stats.requests, COMMAND_NAMES[r.type] ?? 'other');
    if (r.type === NBD_CMD.DISC) {
      this.disconnecting = true;
      this.updateReading();
      void this.settled().then(() => this.link.close('nbd-disc'));
      return;
    }
    const work = this.serve(r).then(
      (reply) => {
        if (reply.error !== 0) bump(stats.errors, ERRNO_NAMES.get(reply.error) ?? 'other');
        if (!this.link.closed) this.send(encodeSimpleReply(r.handle, reply.error, reply.data));
      },
      (err: unknown) => {
        this.s.log.error({ err, link: this.link.label }, 'nbd request failed');
        bump(stats.errors, 'eio');
        if (!this.link.closed) this.send(encodeSimpleReply(r.handle, NBD_ERR.EIO));
      },
    );
    this.inFlight.add(work);
    if (r.type === NBD_CMD.WRITE) this.writesInFlight.add(work);
    void work.finally(() => {
      this.inFlight.delete(work);
      this.writesInFlight.delete(work);
      this.pump();
    });
  }

  private async serve(r: Request): Promise<{ error: number; data?: Uint8Array }> {
    const known = NBD_CMD_FLAG_FUA;
    if ((r.flags & ~known) !== 0) return { error: NBD_ERR.EINVAL };
    const inRange = r.offset + BigInt(r.length) <= BigInt(this.s.sizeBytes);
    switch (r.type) {
      case NBD_CMD.READ:
        if (r.length === 0 || r.length > NBD_MAX_PAYLOAD_BYTES || !inRange)
          return { error: NBD_ERR.EINVAL };
        return this.read(Number(r.offset), r.length);
      case NBD_CMD.WRITE:
        if (r.length === 0 || r.data === null) return { error: NBD_ERR.EINVAL };
        if (!inRange) return { error: NBD_ERR.ENOSPC };
        return this.write(Number(r.offset), r.data);
      case NBD_CMD.FLUSH:
        // Every write answered is in the store's file (C's durability: it survives C
        // being killed); a flush waits for the writes received before it.
        await Promise.allSettled([...this.writesInFlight]);
        return { error: NBD_ERR.OK };
      case NBD_CMD.TRIM:
        // The protocol leaves trimmed contents undefined until rewritten: the store
        // keeps them (a swap device trims freed slots; nothing reads them again).
        if (r.length === 0 || !inRange) return { error: NBD_ERR.EINVAL };
        return { error: NBD_ERR.OK };
      default:
        return { error: NBD_ERR.EINVAL };
    }
  }

  private async read(
    offset: number,
    length: number,
  ): Promise<{ error: number; data?: Uint8Array }> {
    const out = new Uint8Array(length);
    let error: number = NBD_ERR.OK;
    await Promise.all(
      slotSpans(offset, length).map((span) =>
        this.s.locks.run(span.slot, async () => {
          const page = await this.readSlot(span.slot);
          if (page === null) error = NBD_ERR.EIO;
          else out.set(page.subarray(span.inSlot, span.inSlot + span.bytes), span.inBuffer);
        }),
      ),
    );
    return error === NBD_ERR.OK ? { error, data: out } : { error };
  }

  private async write(offset: number, data: Uint8Array): Promise<{ error: number }> {
    let error: number = NBD_ERR.OK;
    await Promise.all(
      slotSpans(offset, data.length).map((span) =>
        this.s.locks.run(span.slot, async () => {
          let page: Uint8Array;
          if (span.bytes === PAGE_SIZE) {
            page = data.subarray(span.inBuffer, span.inBuffer + PAGE_SIZE);
          } else {
            // A partial block: read-modify-write (the slot lock keeps it whole).
            const old = await this.readSlot(span.slot);
            if (old === null) {
              error = NBD_ERR.EIO;
              return;
            }
            page = old.slice();
            page.set(data.subarray(span.inBuffer, span.inBuffer + span.bytes), span.inSlot);
          }
          const r = await this.s.store.write(span.slot, span.slot, 0, page);
          if (r.status !== SWAP_STATUS.OK) error = NBD_ERR.EIO;
        }),
      ),
    );
    return { error };
  }

  /** A slot's page; zeros when never written; null when the store cannot serve it. */
  private async readSlot(slot: number): Promise<Uint8Array | null> {
    const r = await this.s.store.read(slot);
    if (r.status === SWAP_STATUS.OK) return r.data;
    if (r.status === SWAP_STATUS.NOT_FOUND) return new Uint8Array(PAGE_SIZE);
    this.s.log.error(
      { slot, status: r.status, reason: 'reason' in r ? r.reason : undefined },
      'nbd: store read failed',
    );
    return null;
  }
}

/** The part of each slot a byte range covers. */
export function slotSpans(
  offset: number,
  length: number,
): { slot: number; inSlot: number; inBuffer: number; bytes: number }[] {
  const spans = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const slot = Math.floor(pos / PAGE_SIZE);
    const inSlot = pos - slot * PAGE_SIZE;
    const bytes = Math.min(PAGE_SIZE - inSlot, end - pos);
    spans.push({ slot, inSlot, inBuffer: pos - offset, bytes });
    pos += bytes;
  }
  return spans;
}

/**
 * Listens for NBD clients on `listen` and serves `store` as one export named
 * NBD_EXPORT_NAME (or the default export, ""). Rejects when the port cannot be bound.
 */
export async function startNbdServer(options: NbdServerOptions): Promise<NbdServer> {
  const stats: NbdStats = {
    transmissions: 0,
    open: 0,
    requests: new Map(),
    errors: new Map(),
    malformed: new Map(),
    refused: new Map(),
  };
  const shared: Shared = {
    scheduler: options.scheduler,
    store: options.store,
    gate: options.gate,
    log: options.log,
    stats,
    locks: new SlotLocks(),
    sizeBytes: options.store.slots * PAGE_SIZE,
  };
  const connections = new Set<NbdConnection>();
  const timeout = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const listener: TcpListener = await listenTcp(
    options.listen.host,
    options.listen.port,
    (link) => {
      if (!options.gate.admit(link)) {
        bump(stats.refused, 'reset-fault');
        return;
      }
      connections.add(new NbdConnection(link, shared, timeout, (c) => connections.delete(c)));
    },
  );
  options.log.info(
    { host: listener.host, port: listener.port, export: NBD_EXPORT_NAME, bytes: shared.sizeBytes },
    'nbd listening',
  );
  return {
    host: listener.host,
    port: listener.port,
    stats,
    register(registry) {
      gaugeFn(registry, 'swapnet_nbd_connections', 'NBD clients in transmission now', [], (set) =>
        set({}, stats.open),
      );
      counterFn(
        registry,
        'swapnet_nbd_requests_total',
        'NBD requests received, by command',
        ['command'],
        (set) => {
          for (const [command, n] of stats.requests) set({ command }, n);
        },
      );
      counterFn(
        registry,
        'swapnet_nbd_errors_total',
        'NBD replies with an error, by errno',
        ['error'],
        (set) => {
          for (const [error, n] of stats.errors) set({ error }, n);
        },
      );
      counterFn(
        registry,
        'swapnet_nbd_malformed_total',
        'NBD connections closed for malformed traffic, by reason',
        ['reason'],
        (set) => {
          for (const [reason, n] of stats.malformed) set({ reason }, n);
        },
      );
      counterFn(
        registry,
        'swapnet_nbd_refused_total',
        'NBD connections refused, by reason',
        ['reason'],
        (set) => {
          for (const [reason, n] of stats.refused) set({ reason }, n);
        },
      );
    },
    async close() {
      const open = [...connections];
      await listener.close();
      await Promise.allSettled(open.map((c) => c.settled()));
    },
  };
}
