// What an engine gives the runner: a running topology of machines A, B and C, its clock,
// machine A's status, its workloads and faults. `real` runs three processes over real TCP
// on the wall clock (orchestrator/engines/real.ts); `sim` runs the same machine code in
// this process on a virtual scheduler over in-memory links (orchestrator/engines/sim.ts).
// `uml` boots a real Linux kernel as machine A (orchestrator/engines/uml.ts). The runner,
// the verdict, the record and the report are the same for all three.
import type { NodeRole } from '../nodes/node-args.ts';
import { ERROR_CODES, SwapnetError } from '../reserve/errors.ts';
import type { FaultSurface } from './fault-plan.ts';

export const ENGINES = ['real', 'sim', 'uml'] as const;
export type EngineName = (typeof ENGINES)[number];

/** An engine name that is not one (the message names the flag and the engines there are). */
export class EngineError extends SwapnetError {
  constructor(flag: string, value: string, why = '') {
    super(
      ERROR_CODES.engineInvalid,
      `${flag}: "${value}" is not an engine (${ENGINES.join(', ')})${why ? `: ${why}` : ''}`,
    );
  }
}

export function parseEngine(value: string | undefined, flag = '--engine'): EngineName {
  if (value === undefined) return 'real';
  if ((ENGINES as readonly string[]).includes(value)) return value as EngineName;
  throw new EngineError(flag, value);
}

/** The runner's clock: seconds since the topology was ready. */
export interface EngineClock {
  now(): number;
  /** Waits `seconds` of the engine's time; rejects with Error('aborted') if `signal` aborts. */
  sleep(seconds: number, signal?: AbortSignal): Promise<void>;
}

export type WorkloadName = 'hog' | 'reader' | 'flood';

/**
 * What the runner reads of machine A's status. The model's AStatus (nodes/machines/
 * machine-a.ts) is one; the uml engine builds one from the guest kernel's counters.
 */
export interface RunnerStatus {
  readonly memory: {
    readonly pages: Readonly<Record<string, number>> & { readonly free: number };
    readonly watermarks: { readonly min: number; readonly low: number; readonly high: number };
    readonly reserve: {
      readonly sizePages: number;
      readonly usedPages: number;
      readonly peakUsedPages: number;
      readonly cachedPages?: number | null;
    };
  };
  readonly swap: {
    readonly issued: number;
    readonly completed: number;
    readonly pending: number;
    readonly pagesVerified: number;
    readonly integrityErrors: number;
    readonly writeLatency?: { readonly counts: readonly number[] };
  };
  readonly stats: {
    readonly swapInErrors: number;
    readonly oomKills: number;
    readonly allocRetries: number;
    readonly nofailRetries: number;
    readonly oomPanics?: number;
  };
  readonly rx: {
    readonly delivered: Readonly<Record<string, number>>;
    readonly drops: Readonly<Record<string, Readonly<Record<string, number>>>>;
  };
  readonly tcpMem: {
    readonly allocated: number;
    readonly limits: readonly [number, number, number];
  };
  readonly workloads: { readonly serviceMessages: number; readonly hogTouches: number };
  readonly tasks: readonly { readonly activity: string }[];
  readonly memcgs: readonly { readonly usage: number; readonly socketPages: number }[];
}

export interface EngineTopology extends FaultSurface {
  readonly engine: EngineName;
  readonly clock: EngineClock;
  /** Machine A's status, or undefined when it does not answer. */
  statusA(): Promise<RunnerStatus | undefined>;
  /** New frames B has sent so far (undefined when B is not running or does not answer). */
  floodFramesSent(): Promise<number | undefined>;
  startWorkload(name: WorkloadName): Promise<void>;
  stopWorkload(name: WorkloadName): Promise<void>;
  /** Kills a machine at once and starts it again on the same address (and C's store). */
  restart(target: NodeRole): Promise<void>;
  /**
   * What the record keeps of the engine's own view at the end of a run, before close()
   * (the uml engine: the kernel, its counters, and where it hangs when it did not complete).
   */
  finalReport?(verdict: string): Promise<{ readonly kernel?: Readonly<Record<string, unknown>> }>;
  /** Stops every machine (B, A, C) and releases everything the topology holds. */
  close(): Promise<void>;
}
