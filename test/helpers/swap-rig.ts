// The real swap driver of machine A against a real machine C, over the in-memory network
// in virtual time: A's memory model and stack on one side (wired as machine A wires its
// swap connection), MachineC with a memory page store on the other. The test decides when
// the swap connection is made and dropped, and applies faults on C's own gate.
import { AStack, type AConnection } from '../../netstack/a-stack.ts';
import { Connection } from '../../netstack/connection.ts';
import type { EmuSocket } from '../../netstack/emu-socket.ts';
import { ERA_KNOBS } from '../../netstack/era.ts';
import { MemoryNetwork, type MemoryLinkEnd } from '../../netstack/memory-network.ts';
import { defaultKnobs, type Knobs } from '../../nodes/knobs.ts';
import { MachineC } from '../../nodes/machines/machine-c.ts';
import type { MachineContext } from '../../nodes/machines/machine-context.ts';
import { sinkLog, LOG_LEVELS } from '../../nodes/machines/machine-log.ts';
import { MemoryPageStore, type StoreWriteResult } from '../../nodes/machines/page-store.ts';
import { SwapDriver } from '../../nodes/machines/swap-driver.ts';
import type { Scheduler } from '../../reserve/clock.ts';
import { GFP } from '../../reserve/gfp.ts';
import type { IoSchedulerKind } from '../../reserve/io-scheduler.ts';
import { DEFAULT_MEMORY_CONFIG, MemoryModel } from '../../reserve/memory-model.ts';
import { PF, type Task } from '../../reserve/task.ts';
import type { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';
import { virtualScheduler } from './virtual-time.ts';

export const SWAP_RIG_TOKEN = 'swap-rig';

/** C's memory store, recording the order in which writes reached it. */
export class RecordingStore extends MemoryPageStore {
  readonly writes: { slot: number; page: number; version: number }[] = [];

  override write(
    slot: number,
    page: number,
    version: number,
    data: Uint8Array,
  ): Promise<StoreWriteResult> {
    this.writes.push({ slot, page, version });
    return super.write(slot, page, version, data);
  }
}

/** A context for a machine on `net` as host `host`; warnings land in `logs`. */
export function machineContext(
  net: MemoryNetwork,
  host: string,
  scheduler: Scheduler,
  knobs: Knobs = defaultKnobs(),
  logs: Record<string, unknown>[] = [],
): MachineContext {
  const h = net.host(host, scheduler);
  return {
    knobs,
    seed: 1,
    token: SWAP_RIG_TOKEN,
    scheduler,
    network: { connect: h.connect, listen: h.listen },
    log: sinkLog(LOG_LEVELS.warn, (e) => logs.push(e)),
    counters: { connection: () => {}, frameError: () => {} },
    stamp: () => `model ${scheduler.now()} ms`,
  };
}

export interface SwapConnection {
  readonly link: MemoryLinkEnd;
  readonly connection: Connection;
  readonly socket: EmuSocket;
}

export interface SwapRig {
  readonly sched: VirtualScheduler;
  readonly net: MemoryNetwork;
  readonly c: MachineC;
  readonly store: RecordingStore;
  readonly model: MemoryModel;
  readonly stack: AStack;
  readonly driver: SwapDriver;
  /** A task that owns the test's anonymous pages. */
  readonly owner: Task;
  /** Opens a swap connection to C and attaches it to the driver (as machine A does). */
  connect(): Promise<SwapConnection>;
  /** Maps `n` pages for the owner and touches each once: resident, version 1. */
  residentPages(n: number): Promise<number[]>;
}

export interface SwapRigOptions {
  readonly queueDepth?: number;
  readonly ioScheduler?: IoSchedulerKind;
  /** The swap socket's send buffer (default tcp_wmem's default, 16 KiB). */
  readonly sndbufBytes?: number;
  readonly storeSlots?: number;
}

export async function swapRig(options: SwapRigOptions = {}): Promise<SwapRig> {
  const sched = virtualScheduler();
  const net = new MemoryNetwork({ latencyMs: 1 });
  const store = new RecordingStore(options.storeSlots ?? 8192);
  const c = await MachineC.start(machineContext(net, 'c', sched), store, {
    listen: { host: 'c', port: 0 },
  });
  // 16 MiB of RAM: the test's few pages never make the model reclaim on its own.
  const model = new MemoryModel(
    { ...DEFAULT_MEMORY_CONFIG, ramPages: 4096, swapPages: 8192 },
    sched,
    () => {},
  );
  const stack = new AStack({ model, era: ERA_KNOBS.modern });
  const nbd = model.tasks.spawn('nbd0', { flags: PF.KTHREAD | PF.MEMALLOC, oomScoreAdj: -1000 });
  const driver = new SwapDriver({
    anon: model.anon,
    scheduler: sched,
    queueDepth: options.queueDepth ?? 128,
    ioScheduler: options.ioScheduler ?? 'mq-deadline',
    task: nbd,
  });
  model.anon.attachDevice(driver);
  const owner = model.tasks.spawn('owner');
  const aHost = net.host('a', sched);

  /** Wires A's end of a new link as machine A does: the swap socket is opened at C's HELLO. */
  const wire = (
    link: MemoryLinkEnd,
  ): { connection: Connection; socket: () => EmuSocket | undefined } => {
    let aconn: AConnection | undefined;
    let socket: EmuSocket | undefined;
    const connection: Connection = new Connection(
      link,
      {
        self: { role: 'a', token: SWAP_RIG_TOKEN },
        expect: { token: SWAP_RIG_TOKEN, roles: ['c'] },
      },
      {
        hello: () => {
          aconn = stack.attach({ send: (f) => connection.send(f) });
          const s = stack.openSocket(aconn, 1, {
            cls: 'swap',
            sndbuf: options.sndbufBytes ?? 16_384,
            allocation: GFP.NOIO,
          });
          socket = s;
          link.onDrain = () => s.flow.pump();
          driver.attach(s);
        },
        frame: (f) => aconn && stack.receive(aconn, f),
        batchEnd: () => aconn && stack.flush(aconn),
        closed: () => {
          if (!aconn) return;
          for (const s of aconn.sockets.values()) driver.detach(s);
          stack.detach(aconn);
        },
      },
    );
    return { connection, socket: () => socket };
  };

  const connect = async (): Promise<SwapConnection> => {
    // Wired as soon as the connect resolves: the in-memory link delivers C's HELLO to
    // whatever onData is set when it arrives.
    const wired = aHost
      .connect(c.listen.swap.host, c.listen.swap.port)
      .then((link) => ({ link, ...wire(link) }));
    await sched.runFor(10);
    const { link, connection, socket } = await wired;
    const s = socket();
    if (!s) throw new Error('swap rig: no HELLO from C within 10 ms');
    return { link, connection, socket: s };
  };

  const residentPages = async (n: number): Promise<number[]> => {
    const region = model.anon.map(owner, n);
    const pages = Array.from({ length: n }, (_, i) => region.base + i);
    for (const p of pages) {
      const outcome = await model.anon.fault(owner, p);
      if (outcome !== 'ok') throw new Error(`swap rig: fault on page ${p}: ${outcome}`);
    }
    return pages;
  };

  return { sched, net, c, store, model, stack, driver, owner, connect, residentPages };
}
