// The real engine: three node processes over real TCP on 127.0.0.1 (orchestrator/
// topology.ts), model time on the wall clock, A's status over HTTP.
import type { AStatus } from '../../nodes/machines/machine-a.ts';
import type { Knobs } from '../../nodes/knobs.ts';
import type { FloodStatus } from '../../nodes/machines/machine-b.ts';
import type { NodeRole } from '../../nodes/node-args.ts';
import type { EngineClock, EngineTopology, WorkloadName } from '../engine.ts';
import { FaultError } from '../fault-plan.ts';
import { Topology } from '../topology.ts';

/** Waits `seconds` of wall time; rejects at once if `signal` aborts first. */
export function sleepUnlessAborted(
  seconds: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(new Error('aborted'));
  if (seconds <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, seconds * 1000);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RealTopologyOptions {
  readonly knobs: Knobs;
  readonly seed: number;
  /** C in a network namespace of its own, for the netns fault (Linux, root). */
  readonly netns: boolean;
  readonly logLevel: string;
  readonly onNodeLog?: (role: NodeRole, entry: Record<string, unknown>) => void;
}

export async function startRealTopology(opts: RealTopologyOptions): Promise<EngineTopology> {
  const topo = await Topology.start({
    knobs: opts.knobs,
    seed: opts.seed,
    startB: false,
    netns: opts.netns,
    env: { SWAPNET_LOG_LEVEL: opts.logLevel },
    workloads: 'manual',
    ...(opts.onNodeLog ? { onLog: opts.onNodeLog } : {}),
  });
  const t0 = performance.now();
  const clock: EngineClock = {
    now: () => (performance.now() - t0) / 1000,
    sleep: sleepUnlessAborted,
  };
  return {
    engine: 'real',
    clock,
    statusA: () => topo.status<AStatus>('a', 1000),
    floodFramesSent: async () => (await topo.status<FloodStatus>('b', 1000))?.framesSent,
    async startWorkload(name: WorkloadName) {
      if (name === 'flood') await topo.startFlood();
      else await topo.control('a', 'start', { workload: name });
    },
    async stopWorkload(name: WorkloadName) {
      if (name === 'flood') await topo.stopFlood();
      else await topo.control('a', 'stop', { workload: name });
    },
    async restart(target) {
      await topo.restart(target);
    },
    async gate(target, request) {
      if (request === 'heal') await topo.control(target, 'heal');
      else await topo.control(target, 'fault', request);
    },
    freeze(target, frozen) {
      topo.signal(target, frozen ? 'SIGSTOP' : 'SIGCONT');
    },
    link(target, up) {
      if (target !== 'c') throw new FaultError('mode: "netns" applies to C only');
      try {
        topo.netnsLink(up);
      } catch (err) {
        throw new FaultError((err as Error).message);
      }
    },
    close: () => topo.stop(),
  };
}
