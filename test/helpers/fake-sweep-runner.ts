// A stand-in for a sweep's engine: a pure function of a job's knobs (after the scenario,
// the policy and the axes are applied, exactly as planRun resolves them) and its seed,
// shaped like the mechanism. Without a SOCK_MEMALLOC swap socket, the partition wedges
// A when B's backlog (connections x seconds of partition) passes a threshold that the
// seed moves by +-12%, so cells near it split; with one, A always recovers and B's
// packets are tossed instead of C's. It reads no policy name. Exports `runJob` like
// orchestrator/sweep/run-job.ts, so worker threads can load it too.
import { createHash } from 'node:crypto';
import { planRun } from '../../orchestrator/run-plan.ts';
import { reservedMiB } from '../../orchestrator/policies.ts';
import type { RunResult } from '../../orchestrator/runner.ts';
import type { RunOutcome, SweepJob } from '../../orchestrator/sweep/spec.ts';

/** Backlog (connections x partition seconds) at which the fake wedges, before the seed's jitter. */
export const FAKE_THRESHOLD = 256;

/** A number in [0, 1) from the seed alone. */
function unit(seed: number): number {
  return createHash('sha256').update(String(seed)).digest().readUInt32BE(0) / 2 ** 32;
}

/** The fake's verdict and figures for a job (synchronous, deterministic). */
export function fakeOutcome(job: SweepJob): RunOutcome {
  const plan = planRun({
    scenario: job.scenario,
    policy: job.policy,
    sets: job.sets,
    seed: job.seed,
  });
  const k = plan.knobs;
  if (k['hog.tasks'] === 255) throw new Error('fake engine failure (hog.tasks=255)');
  const backlog = k['flood.connections'] * k['fault.durationSeconds'];
  const threshold = FAKE_THRESHOLD * (0.88 + 0.24 * unit(job.seed));
  const memalloc = k['net.memallocSwapSocket'];
  const wedged = !memalloc && backlog >= threshold;
  const verdict = wedged ? 'deadlock' : 'completed';
  const tossedByClass = memalloc
    ? { swap: 0, service: Math.round(backlog * 3) }
    : { swap: wedged ? 40 + (job.seed % 7) : 0, service: 0 };
  const tossed = tossedByClass.swap + tossedByClass.service;
  const recoverySeconds = wedged ? null : Number((0.5 + backlog / 400).toFixed(2));
  const result: RunResult = {
    engine: job.engine === 'real' ? 'real' : 'sim',
    scenario: plan.scenario.name,
    policy: plan.policy.name,
    era: plan.era,
    seed: job.seed,
    verdict,
    writeout: { issued: 1000, completed: wedged ? 900 : 1000, pendingAtEnd: wedged ? 100 : 0 },
    recoverySeconds,
    rx: { delivered: 5000, tossedPfmemalloc: tossed, droppedNoMem: 0, droppedProtoMem: 0 },
    reserve: { sizePages: 128, peakUsedPages: memalloc ? 60 : 128 },
    integrity: { pagesVerified: 500, mismatches: 0 },
    oomKills: 0,
    durationSeconds: 30,
  };
  return {
    verdict,
    recoverySeconds,
    tossed,
    tossedByClass,
    heldBackPages: Math.round(reservedMiB(k) * 256),
    result,
  };
}

/** The job runner interface (orchestrator/sweep/pool.ts JobRunner). */
export async function runJob(job: SweepJob, signal?: AbortSignal): Promise<RunOutcome> {
  if (signal?.aborted) throw new Error('aborted');
  return fakeOutcome(job);
}
