// What every machine is given, and the fault gate it builds from it.
import type { Scheduler } from '../../reserve/clock.ts';
import type { Knobs } from '../knobs.ts';
import { FaultGate } from './fault-gate.ts';
import type { EdgeCounters } from './frame-acceptor.ts';
import type { MachineLog } from './machine-log.ts';
import type { Network } from './network.ts';

/** What every machine is given. */
export interface MachineContext {
  readonly knobs: Knobs;
  readonly seed: number;
  /** The topology's shared token: every HELLO carries it. */
  readonly token: string;
  readonly scheduler: Scheduler;
  readonly network: Network;
  readonly log: MachineLog;
  readonly counters: EdgeCounters;
  /** The `since` stamp of a fault (wall clock in a process, model time in a simulation). */
  readonly stamp: () => string;
  /** The HELLO deadline for accepted connections (model ms). */
  readonly helloTimeoutMs?: number;
}

/** The fault gate a machine builds from its context. */
export function gateFor(ctx: MachineContext): FaultGate {
  return new FaultGate({
    defaults: {
      lossRate: ctx.knobs['fault.lossRate'],
      delayMs: ctx.knobs['fault.delayMs'],
      jitterMs: ctx.knobs['fault.jitterMs'],
      seed: ctx.seed,
    },
    log: ctx.log,
    network: ctx.network,
    scheduler: ctx.scheduler,
    stamp: ctx.stamp,
  });
}

/** What every listener of a machine shares: the token, its log, counters, gate and network. */
export function acceptContext(ctx: MachineContext, gate: FaultGate) {
  return {
    token: ctx.token,
    log: ctx.log,
    counters: ctx.counters,
    gate,
    network: ctx.network,
    ...(ctx.helloTimeoutMs !== undefined ? { helloTimeoutMs: ctx.helloTimeoutMs } : {}),
  };
}
