// Node C, A's swap server: accepts A's frame connections, and on every flow A opens
// answers the NBD-like swap protocol from a file-backed store. A WRITE is confirmed only
// once its record is in the file, so every confirmed page survives C being killed.
import { FRAME_TYPE } from '../netstack/frame.ts';
import type { Flow } from '../netstack/flow.ts';
import { PeerStack } from '../netstack/peer-stack.ts';
import { ConfigError } from '../reserve/errors.ts';
import { PAGE_SIZE } from '../reserve/units.ts';
import { faultControl } from './fault-control.ts';
import { startNbdServer } from './nbd-server.ts';
import { acceptFrames } from './frame-acceptor.ts';
import type { Knobs } from './knobs.ts';
import { counterFn, gaugeFn } from './metrics.ts';
import type { NodeRuntime, RunningNode } from './node-shell.ts';
import { decodeSwapMessage, encodeReply, SWAP_STATUS, type SwapStatus } from './swap-protocol.ts';
import { SwapStore } from './swap-store.ts';

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
type RefusalReason = (typeof REFUSAL_REASONS)[keyof typeof REFUSAL_REASONS];

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

/**
 * Starts C: opens the store at `--store` (a device of deviceSlots() pages), listens for
 * A's connections on `--listen`, registers C's metrics. Rejects (and closes the store)
 * when the store cannot be opened or the port cannot be bound. stop() closes the
 * listener and every connection, then the store once pending writes are in the file.
 */
export async function startC(rt: NodeRuntime): Promise<RunningNode> {
  const { args, log, registry, scheduler } = rt;
  if (args.store === null) throw new ConfigError('--store', 'required for node c');
  const slots = deviceSlots(args.knobs);
  const { store, info } = await SwapStore.open(args.store, slots);
  log.info(
    { path: store.path, slots, pages: store.pages, corrupt: info.corrupt },
    'swap store open',
  );
  if (info.beyondDevice > 0) {
    log.warn(
      { beyondDevice: info.beyondDevice },
      'the store file is larger than the device: records beyond it are ignored',
    );
  }

  const stats = {
    writes: 0,
    reads: 0,
    malformed: 0,
    refused: { out_of_range: 0, not_found: 0, io_error: 0 } satisfies Record<RefusalReason, number>,
  };
  gaugeFn(registry, 'swapnet_store_pages', 'Pages stored in the swap store', [], (set) =>
    set({}, store.pages),
  );
  gaugeFn(registry, 'swapnet_store_slots', 'Size of the swap device in pages', [], (set) =>
    set({}, store.slots),
  );
  gaugeFn(
    registry,
    'swapnet_store_corrupt_pages',
    'Stored records that failed their check',
    [],
    (set) => set({}, store.corrupt),
  );
  counterFn(
    registry,
    'swapnet_store_writes_total',
    'Pages written to the store and confirmed',
    [],
    (set) => set({}, stats.writes),
  );
  counterFn(
    registry,
    'swapnet_store_reads_total',
    'Pages read from the store and returned',
    [],
    (set) => set({}, stats.reads),
  );
  counterFn(
    registry,
    'swapnet_store_refused_total',
    'Swap requests answered without success, by reason',
    ['reason'],
    (set) => {
      for (const [reason, n] of Object.entries(stats.refused)) set({ reason }, n);
    },
  );
  counterFn(
    registry,
    'swapnet_swap_messages_malformed_total',
    'Swap messages that could not be decoded (not answered)',
    [],
    (set) => set({}, stats.malformed),
  );

  const connections = new Set<CConnection>();
  let stopping = false;

  const refuse = (status: SwapStatus): void => {
    if (status !== SWAP_STATUS.OK) stats.refused[REFUSAL_REASONS[status]]++;
  };

  /** Handles one swap message on `flow`; the reply goes back on the same flow. */
  const serve = async (conn: CConnection, flow: Flow, payload: Uint8Array): Promise<void> => {
    const msg = decodeSwapMessage(payload);
    if (msg === null || msg.op === 'reply') {
      stats.malformed++;
      conn.malformed++;
      const level = conn.malformed <= MALFORMED_WARNINGS ? 'warn' : 'debug';
      log[level](
        { link: conn.label, flow: flow.flowId, bytes: payload.length, op: payload[0] ?? null },
        'malformed swap message: not answered',
      );
      return;
    }
    if (stopping) return;
    if (msg.op === 'write') {
      const r = await store.write(msg.slot, msg.page, msg.version, msg.data);
      if (r.status === SWAP_STATUS.OK) stats.writes++;
      else refuse(r.status);
      if (r.status === SWAP_STATUS.IO_ERROR) {
        log.error({ slot: msg.slot, reason: r.reason, err: r.cause }, 'swap store write failed');
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
    refuse(r.status);
    if (r.status === SWAP_STATUS.IO_ERROR) {
      log.error({ slot: msg.slot, reason: r.reason }, 'swap store read failed');
    }
    flow.send(encodeReply(msg.handle, r.status), undefined);
  };

  // Started last, so a failure only has the store to undo.
  const swapListener = await acceptFrames({
    listen: args.listen,
    token: args.token,
    self: 'c',
    roles: ['a'],
    log,
    counters: rt.counters,
    gate: rt.gate,
    accept: (connection, _peer, link) => {
      const stack = new PeerStack({
        scheduler,
        transmit: (f) => connection.send(f),
        windowBytes: C_WINDOW_BYTES,
        rto: { minMs: args.knobs['net.rtoMinMs'], maxMs: args.knobs['net.rtoMaxMs'] },
      });
      const conn: CConnection = { label: link.label, stack, malformed: 0 };
      connections.add(conn);
      link.onDrain = () => stack.pumpAll();
      // PeerStack creates the flow after onOpen returns, so its handlers are set here.
      const adopted = new WeakSet<Flow>();
      const adopt = (flowId: number): void => {
        const flow = stack.flow(flowId);
        if (!flow || adopted.has(flow)) return;
        adopted.add(flow);
        stack.adopt(flowId, {
          message: (payload) => {
            serve(conn, flow, payload).catch((err: unknown) =>
              log.error({ err, link: conn.label }, 'swap request failed'),
            );
          },
        });
        log.debug({ link: conn.label, flow: flowId }, 'swap flow opened');
      };
      log.info({ link: link.label }, 'swap connection from A');
      return {
        frame: (f) => {
          stack.handleFrame(f);
          if (f.type === FRAME_TYPE.OPEN) adopt(f.flowId);
        },
        batchEnd: () => stack.flushAcks(),
        closed: (reason) => {
          stack.closeAll();
          connections.delete(conn);
          log.info({ link: conn.label, reason }, 'swap connection closed');
        },
      };
    },
  }).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  const nbd = args.nbdListen
    ? await startNbdServer({ listen: args.nbdListen, store, gate: rt.gate, log }).catch(
        async (err: unknown) => {
          await swapListener.close();
          await store.close();
          throw err;
        },
      )
    : null;
  nbd?.register(registry);

  return {
    listen: {
      swap: { host: swapListener.host, port: swapListener.port },
      ...(nbd ? { nbd: { host: nbd.host, port: nbd.port } } : {}),
    },
    healthy: () => ({ ok: store.isOpen, pages: store.pages }),
    sockets: () =>
      [...connections].map((c) => ({
        link: c.label,
        backedUp: c.stack.flowViews().some((f) => f.backedUp),
        flows: c.stack.flowViews(),
      })),
    status: () => ({
      node: 'c',
      store: { path: store.path, slots: store.slots, pages: store.pages, corrupt: store.corrupt },
      connections: connections.size,
      links: [...connections].map((c) => ({
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
      fault: rt.gate.state(),
    }),
    control: faultControl(rt.gate),
    stop: async () => {
      stopping = true;
      await swapListener.close();
      await nbd?.close();
      await store.close();
    },
  };
}
