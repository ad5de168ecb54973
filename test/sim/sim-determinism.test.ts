// Determinism of the simulation engine (issue 12's must-show): the same plan and seed
// through runPlan(plan, { engine: 'sim' }) (what `swapnet run --engine sim` calls) give
// a byte-identical record apart from wallSeconds, the one field that is wall-clock by
// nature; another seed gives another record. Three whole runs of partition-c: seconds
// of CPU each (the verdict tests are in sim-verdicts.test.ts, run in parallel).
import { describe, expect, it } from 'vitest';
import { planRun } from '../../orchestrator/run-plan.ts';
import { runPlan, type RunRecord } from '../../orchestrator/runner.ts';

/** The record as JSON without the wall-clock field, for byte comparison. */
function deterministicJson(record: RunRecord): string {
  const { wallSeconds, ...rest } = record;
  expect(typeof wallSeconds).toBe('number');
  return JSON.stringify(rest);
}

function simulate(scenario: string, policy: string, seed: number): Promise<RunRecord> {
  return runPlan(planRun({ scenario, policy, seed }), { engine: 'sim' });
}

describe('swapnet run --engine sim: determinism', () => {
  it('partition-c under vanilla: two runs with seed 1 give byte-identical records (minus wallSeconds), seed 2 another; the verdict is deadlock', async () => {
    const first = await simulate('partition-c', 'vanilla', 1);
    const second = await simulate('partition-c', 'vanilla', 1);
    const other = await simulate('partition-c', 'vanilla', 2);
    expect(first.result.engine).toBe('sim');
    expect(first.result.verdict, first.reason).toBe('deadlock');
    expect(first.result.writeout.pendingAtEnd).toBeGreaterThan(0);
    // Not a trivially equal record: the run did something.
    expect(first.timeline.length).toBeGreaterThan(100);
    expect(first.result.writeout.completed).toBeGreaterThan(1000);
    const a = deterministicJson(first);
    expect(deterministicJson(second)).toBe(a);
    expect(other.result.seed).toBe(2);
    // The seed reaches the machines (B's and the service's choices), not only the record.
    const { seed: _s1, ...firstResult } = first.result;
    const { seed: _s2, ...otherResult } = other.result;
    expect(otherResult).not.toEqual(firstResult);
    expect(deterministicJson(other)).not.toBe(a);
  }, 180_000);
});
