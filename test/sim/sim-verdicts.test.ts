// Verdicts of the simulation engine (issue 12's must-show), through runPlan(plan,
// { engine: 'sim' }): partition-c under memalloc completes with every page verified, and
// without B's flood (quiet-partition) vanilla heals by itself. (partition-c under vanilla
// deadlocks: asserted in sim-determinism.test.ts, whose runs are those.)
import { describe, expect, it } from 'vitest';
import { planRun } from '../../orchestrator/run-plan.ts';
import { runPlan, type RunRecord } from '../../orchestrator/runner.ts';

function simulate(scenario: string, policy: string, seed: number): Promise<RunRecord> {
  return runPlan(planRun({ scenario, policy, seed }), { engine: 'sim' });
}

describe('swapnet run --engine sim: verdicts', () => {
  it('partition-c under memalloc completes, with every page read back matching', async () => {
    const r = await simulate('partition-c', 'memalloc', 1);
    expect(r.result.verdict, r.reason).toBe('completed');
    expect(r.result.integrity.mismatches).toBe(0);
    expect(r.result.integrity.pagesVerified).toBeGreaterThan(0);
    expect(r.result.rx.tossedPfmemalloc).toBeGreaterThan(0);
  }, 60_000);

  it('quiet-partition (no flood) under vanilla completes: the partition heals by itself', async () => {
    const r = await simulate('quiet-partition', 'vanilla', 1);
    expect(r.result.verdict, r.reason).toBe('completed');
    expect(r.result.writeout.pendingAtEnd).toBe(0);
    expect(r.result.integrity.mismatches).toBe(0);
  }, 60_000);

  it('nofail-livelock under memalloc is a livelock: the NOFAIL loop retries once a second from pfmemalloc_wait', async () => {
    // Regression (verdict rule): the throttled loop made exactly one retry a second and
    // the rule, wanting more, called it a deadlock.
    const r = await simulate('nofail-livelock', 'memalloc', 1);
    expect(r.result.verdict, r.reason).toBe('livelock');
    expect(r.result.oomKills).toBe(0);
    expect(r.finalStats?.['directReclaimThrottled']).toBeGreaterThan(0);
  }, 60_000);

  it("quiet-partition under vanilla with a userspace transport wedges in the hogs' first pass: the relay's own sends need the memory its writeout would free", async () => {
    // What the real kernel showed (README "A real kernel as machine A"): a relay without
    // PF_MEMALLOC enters direct reclaim from its socket sends and cannot get out.
    const plan = planRun({
      scenario: 'quiet-partition',
      policy: 'vanilla',
      sets: ['swap.transport=userspace'],
    });
    const r = await runPlan(plan, { engine: 'sim' });
    expect(r.result.verdict, r.reason).not.toBe('completed');
    expect(r.result.writeout.completed).toBeLessThan(300);
    // Before the partition at 10 s: the first pass never got through.
    const before = r.timeline.filter((p) => p.t < 10).at(-1);
    expect(before?.pending).toBeGreaterThan(0);
    expect(
      r.timeline.filter((p) => p.t > 5 && p.t < 10).every((p) => p.completed === before?.completed),
    ).toBe(true);
  }, 60_000);
});
