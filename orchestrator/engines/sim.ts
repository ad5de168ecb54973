// The simulation engine: machines A, B and C (the same classes the node processes run) in
// this process, on one virtual scheduler, over the in-memory network, with C's store in
// memory. Seeded and deterministic: the same plan and seed give the same record. Each
// machine sees the shared clock through a pausable view (the `pause` fault freezes it as
// SIGSTOP freezes a process); the gate faults are the machines' own fault gates; netns
// takes the simulated link of C down. The runner drives it exactly as it drives the real
// engine; runSimulation() pumps the virtual clock until the runner is done.
import type { Knobs } from '../../nodes/knobs.ts';
import { MachineA, type AStatus } from '../../nodes/machines/machine-a.ts';
import { startMachineB, type MachineB } from '../../nodes/machines/machine-b.ts';
import { deviceSlots, MachineC } from '../../nodes/machines/machine-c.ts';
import type { MachineContext } from '../../nodes/machines/machine-context.ts';
import { LOG_LEVELS, sinkLog } from '../../nodes/machines/machine-log.ts';
import type { HostPort } from '../../nodes/machines/frame-acceptor.ts';
import type { FaultGate } from '../../nodes/machines/fault-gate.ts';
import { MemoryPageStore } from '../../nodes/machines/page-store.ts';
import type { Network } from '../../nodes/machines/network.ts';
import type { NodeRole } from '../../nodes/node-args.ts';
import { MemoryNetwork } from '../../netstack/memory-network.ts';
import { PausableScheduler } from '../../reserve/pausable-scheduler.ts';
import { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';
import type { EngineClock, EngineTopology, WorkloadName } from '../engine.ts';
import { FaultError } from '../fault-plan.ts';

/** Model time the pump advances between two looks at the real event loop (Ctrl-C, output). */
const PUMP_CHUNK_MS = 200;

/**
 * Between two events every promise continuation the first one caused runs, however deep
 * the chain, as Node's event loop runs every microtask before the next timer. A
 * process.nextTick callback queued from a microtask runs only once the microtask queue is
 * empty, so it marks the end of the chain without a trip through the event loop (a
 * setImmediate would cost a poll of the I/O queue per event). The scheduler's default, a
 * fixed number of microtask turns, would cut a deep chain short and carry the rest over
 * to the next event. Nothing runs in between that the machines could see: they have no
 * I/O. The pump below still yields to the event loop every PUMP_CHUNK_MS (Ctrl-C).
 */
const drainMicrotasks = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

export interface SimTopologyOptions {
  readonly knobs: Knobs;
  readonly seed: number;
  readonly onNodeLog?: (role: NodeRole, entry: Record<string, unknown>) => void;
}

interface Running<M> {
  readonly machine: M;
  readonly scheduler: PausableScheduler;
}

class SimTopology implements EngineTopology {
  readonly engine = 'sim' as const;
  readonly clock: EngineClock;
  private readonly net = new MemoryNetwork();
  private store: MemoryPageStore;
  private a: Running<MachineA> | undefined;
  private b: Running<MachineB> | undefined;
  private c: Running<MachineC> | undefined;
  private aListen: HostPort = { host: 'a', port: 0 };
  private cListen: HostPort = { host: 'c', port: 0 };
  private readonly t0: number;

  constructor(
    private readonly root: VirtualScheduler,
    private readonly opts: SimTopologyOptions,
  ) {
    this.store = new MemoryPageStore(deviceSlots(opts.knobs));
    this.t0 = root.now();
    this.clock = {
      now: () => (root.now() - this.t0) / 1000,
      sleep: (seconds, signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(new Error('aborted'));
          const onAbort = (): void => {
            timer.cancel();
            reject(new Error('aborted'));
          };
          const timer = root.schedule(Math.max(0, seconds * 1000), () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
    };
  }

  /** A machine's context: its own pausable view of the clock, its host on the network. */
  private context(role: NodeRole): { ctx: MachineContext; scheduler: PausableScheduler } {
    const scheduler = new PausableScheduler(this.root);
    const host = this.net.host(role, scheduler);
    const network: Network = { connect: host.connect, listen: host.listen };
    const edge = new Map<string, number>();
    const count = (k: string): void => void edge.set(k, (edge.get(k) ?? 0) + 1);
    const onNodeLog = this.opts.onNodeLog;
    return {
      scheduler,
      ctx: {
        knobs: this.opts.knobs,
        seed: this.opts.seed,
        token: 'simulation',
        scheduler,
        network,
        log: sinkLog(LOG_LEVELS.warn, (entry) => onNodeLog?.(role, entry)),
        counters: {
          connection: (r) => count(`connection:${r}`),
          frameError: (r) => count(`frame:${r}`),
        },
        stamp: () => `model ${(this.root.now() / 1000).toFixed(3)} s`,
      },
    };
  }

  async startC(): Promise<void> {
    const { ctx, scheduler } = this.context('c');
    const machine = await MachineC.start(ctx, this.store, { listen: this.cListen });
    this.cListen = machine.listen.swap;
    this.c = { machine, scheduler };
  }

  async startA(): Promise<void> {
    const { ctx, scheduler } = this.context('a');
    const machine = await MachineA.start(ctx, {
      listen: this.aListen,
      peer: this.cListen,
      workloads: 'manual',
    });
    this.aListen = machine.listen.service;
    this.a = { machine, scheduler };
  }

  startB(): void {
    const { ctx, scheduler } = this.context('b');
    this.b = { machine: startMachineB(ctx, { peer: this.aListen }), scheduler };
  }

  statusA(): Promise<AStatus | undefined> {
    const a = this.a;
    // What a process would serve: the status as JSON (Infinity as null, no undefined).
    if (!a || a.scheduler.isPaused) return Promise.resolve(undefined);
    return Promise.resolve(JSON.parse(JSON.stringify(a.machine.status())) as AStatus);
  }

  floodFramesSent(): Promise<number | undefined> {
    const b = this.b;
    return Promise.resolve(
      b && !b.scheduler.isPaused ? b.machine.counters().framesSent : undefined,
    );
  }

  async startWorkload(name: WorkloadName): Promise<void> {
    if (name === 'flood') {
      if (!this.b) this.startB();
    } else {
      this.a?.machine.startWorkload(name);
    }
  }

  async stopWorkload(name: WorkloadName): Promise<void> {
    if (name === 'flood') {
      const b = this.b;
      this.b = undefined;
      await b?.machine.stop();
    } else {
      this.a?.machine.stopWorkload(name);
    }
  }

  async restart(target: NodeRole): Promise<void> {
    const old = this.running(target);
    if (!old) throw new FaultError(`restart: machine ${target.toUpperCase()} is not running`);
    // SIGKILL: nothing of the old machine runs again; its connections are reset.
    old.scheduler.pause();
    this.net.killHost(target);
    if (target === 'c') {
      this.store = this.store.reopen();
      await this.startC();
    } else if (target === 'a') {
      const hog = old.machine instanceof MachineA ? old.machine.startedWorkloads : [];
      await this.startA();
      for (const w of hog) this.a?.machine.startWorkload(w);
    } else {
      this.startB();
    }
  }

  private running(role: NodeRole): Running<MachineA | MachineB | MachineC> | undefined {
    return role === 'a' ? this.a : role === 'b' ? this.b : this.c;
  }

  private gateOf(role: NodeRole): FaultGate {
    const r = this.running(role);
    if (!r) throw new FaultError(`target: machine ${role.toUpperCase()} is not running`);
    return r.machine.gate;
  }

  async gate(target: NodeRole, request: Parameters<EngineTopology['gate']>[1]): Promise<void> {
    const gate = this.gateOf(target);
    if (request === 'heal') gate.heal();
    else gate.apply(request);
  }

  freeze(target: NodeRole, frozen: boolean): void {
    const r = this.running(target);
    if (!r) throw new FaultError(`target: machine ${target.toUpperCase()} is not running`);
    if (frozen) r.scheduler.pause();
    else r.scheduler.resume();
  }

  link(target: NodeRole, up: boolean): void {
    if (target !== 'c') throw new FaultError('mode: "netns" applies to C only');
    this.net.setLink('c', up);
  }

  async close(): Promise<void> {
    for (const r of [this.b, this.a, this.c]) r?.scheduler.resume();
    const b = this.b;
    this.b = undefined;
    await b?.machine.stop();
    await this.a?.machine.stop();
    await this.c?.machine.stop();
  }
}

/** A simulation stopped making progress: nothing scheduled, and the run not finished. */
export class SimulationStalledError extends Error {}

/**
 * Starts C, A (workloads manual, like the real engine's runs) and hands the topology to
 * `body`, pumping the virtual clock until it settles; the topology is closed after.
 * Yields to the event loop between chunks of model time, so Ctrl-C and output get through.
 */
export async function runSimulation<T>(
  opts: SimTopologyOptions,
  body: (topo: EngineTopology) => Promise<T>,
): Promise<T> {
  const root = new VirtualScheduler({ settle: drainMicrotasks });
  let settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  void (async () => {
    const topo = new SimTopology(root, opts);
    try {
      await topo.startC();
      await topo.startA();
      return await body(topo);
    } finally {
      await topo.close();
    }
  })().then(
    (value) => (settled = { ok: true, value }),
    (error: unknown) => (settled = { ok: false, error }),
  );
  while (!settled) {
    if (root.nextAt() === undefined) {
      // Nothing scheduled: let promise chains finish; if still nothing, the run is stuck.
      await new Promise((r) => setImmediate(r));
      if (!settled && root.nextAt() === undefined)
        throw new SimulationStalledError(
          `the simulation stalled at ${(root.now() / 1000).toFixed(3)} s of model time: nothing scheduled`,
        );
      continue;
    }
    await root.runUntilTrue(() => settled !== undefined, PUMP_CHUNK_MS);
    await new Promise((r) => setImmediate(r));
  }
  const outcome = settled as { ok: true; value: T } | { ok: false; error: unknown };
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
