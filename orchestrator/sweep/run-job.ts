// The job runner a sweep's workers load: one run of the grid through the same path as
// `swapnet run` (planRun, then the engine), reduced to what its cell keeps.
import { reservedMiB } from '../policies.ts';
import { planRun } from '../run-plan.ts';
import { runPlan, type RunRecord } from '../runner.ts';
import type { RunOutcome, SweepJob } from './spec.ts';

/** What a cell keeps of a run's record. */
export function outcomeOf(record: RunRecord): RunOutcome {
  const r = record.result;
  return {
    verdict: r.verdict,
    recoverySeconds: r.recoverySeconds,
    tossed: r.rx.tossedPfmemalloc,
    tossedByClass: { ...(record.timeline.at(-1)?.tossedByClass ?? {}) },
    heldBackPages: Math.round(reservedMiB(record.knobs) * 256),
    result: r,
  };
}

/** Runs one job; rejects on a bad plan (ConfigError), a node failure or an abort. */
export async function runJob(job: SweepJob, signal?: AbortSignal): Promise<RunOutcome> {
  const plan = planRun({
    scenario: job.scenario,
    policy: job.policy,
    sets: job.sets,
    seed: job.seed,
  });
  const record = await runPlan(plan, {
    engine: job.engine,
    ...(signal ? { signal } : {}),
    logLevel: 'error',
  });
  return outcomeOf(record);
}
