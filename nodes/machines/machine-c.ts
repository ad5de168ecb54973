// Machine C, A's swap server, as an object with no I/O of its own: it accepts A's frame
// connections and on every flow A opens answers the NBD-like swap protocol from the page
// store it is given (a file in a process, memory in a simulation). A WRITE is confirmed
// only once the store has kept the page.
import { FRAME_TYPE } from '../../netstack/frame.ts';
import type { Flow } from '../../netstack/flow.ts';
import { PeerStack } from '../../netstack/peer-stack.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';
import type { Knobs } from '../knobs.ts';
import type { FaultGate } from './fault-gate.ts';
import { acceptFrames, type HostPort } from './frame-acceptor.ts';
import { acceptContext, gateFor, type MachineContext } from './machine-context.ts';
import type { NetListener } from './network.ts';
import type { PageStore } from './page-store.ts';
import { decodeSwapMessage, encodeReply, SWAP_STATUS, type SwapStatus } from './swap-protocol.ts';

/**
 * The receive window C advertises on every flow. C hands each message to the store at
 * once, so its window never closes: A's sending is bounded by its own queue depth.
 */
export const C_WINDOW_BYTES = 1 << 20;

/** Malformed swap messages logged at warn per connection; the rest at debug. */
const MALFORMED_WARNINGS = 10;

const REFUSAL_REASONS = {
  [SWAP_STATUS.OUT_OF_RANGE]: 'out_of_range',
  [SWAP_STATUS.NOT_FOUND]: 'not_found',
  [SWAP_STATUS.IO_ERROR]: 'io_error',
} as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[keyof typeof REFUSAL_REASONS];

/** The swap device's size in pages: `swap.sizeMiB`, or twice `mem.ramMiB` when null. */
export function deviceSlots(knobs: Knobs): number {
  const mib = knobs['swap.sizeMiB'] ?? 2 * knobs['mem.ramMiB'];
  return (mib * 1024 * 1024) / PAGE_SIZE;
}

interface CConnection {
  readonly label: string;
  readonly stack: PeerStack;
  malformed: number;
}

export interface CStats {
  writes: number;
  reads: number;
  malformed: number;
  readonly refused: Record<RefusalReason, number>;
}

/** Machine C's status: what /status serves. */
export type CStatus = ReturnType<MachineC['status']>;

export class MachineC {
  readonly gate: FaultGate;
  readonly stats: CStats = {
    writes: 0,
    reads: 0,
    malformed: 0,
    refused: { out_of_range: 0, not_found: 0, io_error: 0 },
  };
  listen: { readonly swap: HostPort } = { swap: { host: '', port: 0 } };
  private readonly connections = new Set<CConnection>();
  private listener: NetListener | undefined;
  private stopping = false;

  private constructor(
    private readonly ctx: MachineContext,
    readonly store: PageStore,
  ) {
    this.gate = gateFor(ctx);
  }

  /** Starts C on `store`, listening for A on `listen`. */
  static async start(
    ctx: MachineContext,
    store: PageStore,
    opts: { readonly listen: HostPort },
  ): Promise<MachineC> {
    const c = new MachineC(ctx, store);
    await c.boot(opts.listen);
    return c;
  }

  private async boot(listen: HostPort): Promise<void> {
    const { ctx } = this;
    const listener = await acceptFrames({
      ...acceptContext(ctx, this.gate),
      listen,
      self: 'c',
      roles: ['a'],
      accept: (connection, _peer, link) => {
        const stack = new PeerStack({
          scheduler: ctx.scheduler,
          transmit: (f) => connection.send(f),
          windowBytes: C_WINDOW_BYTES,
          rto: { minMs: ctx.knobs['net.rtoMinMs'], maxMs: ctx.knobs['net.rtoMaxMs'] },
        });
        const conn: CConnection = { label: link.label, stack, malformed: 0 };
        this.connections.add(conn);
        link.onDrain = () => stack.pumpAll();
        // PeerStack creates the flow after onOpen returns, so its handlers are set here.
        const adopted = new WeakSet<Flow>();
        const adopt = (flowId: number): void => {
          const flow = stack.flow(flowId);
          if (!flow || adopted.has(flow)) return;
          adopted.add(flow);
          stack.adopt(flowId, {
            message: (payload) => {
              this.serve(conn, flow, payload).catch((err: unknown) =>
                ctx.log.error({ err, link: conn.label }, 'swap request failed'),
              );
            },
          });
          ctx.log.debug({ link: conn.label, flow: flowId }, 'swap flow opened');
        };
        ctx.log.info({ link: link.label }, 'swap connection from A');
        return {
          frame: (f) => {
            stack.handleFrame(f);
            if (f.type === FRAME_TYPE.OPEN) adopt(f.flowId);
          },
          batchEnd: () => stack.flushAcks(),
          closed: (reason) => {
            stack.closeAll();
            this.connections.delete(conn);
            ctx.log.info({ link: conn.label, reason }, 'swap connection closed');
          },
        };
      },
    });
    this.listener = listener;
    this.listen = { swap: { host: listener.host, port: listener.port } };
  }

  private refuse(status: SwapStatus): void {
    if (status !== SWAP_STATUS.OK) this.stats.refused[REFUSAL_REASONS[status]]++;
  }

  /** Handles one swap message on `flow`; the reply goes back on the same flow. */
  private async serve(conn: CConnection, flow: Flow, payload: Uint8Array): Promise<void> {
    const { stats, store, ctx } = this;
    const msg = decodeSwapMessage(payload);
    if (msg === null || msg.op === 'reply') {
      stats.malformed++;
      conn.malformed++;
      const level = conn.malformed <= MALFORMED_WARNINGS ? 'warn' : 'debug';
      ctx.log[level](
        { link: conn.label, flow: flow.flowId, bytes: payload.length, op: payload[0] ?? null },
        'malformed swap message: not answered',
      );
      return;
    }
    if (this.stopping) return;
    if (msg.op === 'write') {
      const r = await store.write(msg.slot, msg.page, msg.version, msg.data);
      if (r.status === SWAP_STATUS.OK) stats.writes++;
      else this.refuse(r.status);
      if (r.status === SWAP_STATUS.IO_ERROR) {
        ctx.log.error(
          { slot: msg.slot, reason: r.reason, err: r.cause },
          'swap store write failed',
        );
      }
      flow.send(encodeReply(msg.handle, r.status), undefined);
      return;
    }
    const r = await store.read(msg.slot);
    if (r.status === SWAP_STATUS.OK) {
      stats.reads++;
      flow.send(encodeReply(msg.handle, r.status, r.data), undefined);
      return;
    }
    this.refuse(r.status);
    if (r.status === SWAP_STATUS.IO_ERROR) {
      ctx.log.error({ slot: msg.slot, reason: r.reason }, 'swap store read failed');
    }
    flow.send(encodeReply(msg.handle, r.status), undefined);
  }

  healthy(): { ok: boolean; pages: number } {
    return { ok: this.store.isOpen, pages: this.store.pages };
  }

  sockets() {
    return [...this.connections].map((c) => ({
      link: c.label,
      backedUp: c.stack.flowViews().some((f) => f.backedUp),
      flows: c.stack.flowViews(),
    }));
  }

  status() {
    const { store, stats } = this;
    return {
      node: 'c' as const,
      store: { path: store.path, slots: store.slots, pages: store.pages, corrupt: store.corrupt },
      connections: this.connections.size,
      links: [...this.connections].map((c) => ({
        link: c.label,
        delivered: c.stack.delivered,
        unknownFlowFrames: c.stack.unknownFlowFrames,
        duplicates: c.stack.duplicates,
        outOfOrder: c.stack.outOfOrder,
        malformed: c.malformed,
      })),
      writes: stats.writes,
      reads: stats.reads,
      refused: { ...stats.refused },
      malformed: stats.malformed,
      fault: this.gate.state(),
    };
  }

  /** Closes the listener and every connection, then the store once pending writes are in. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.listener?.close();
    await this.store.close();
    this.gate.stop();
  }
}
