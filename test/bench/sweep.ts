// Sweep benchmark: a 10 x 10 grid under two policies (200 runs) of partition-c on the
// simulation engine, through the sweep's own driver and worker pool (one thread per
// core), timed from the first run to the last: cells per second on this machine.
import { availableParallelism } from 'node:os';
import { parseAxis } from '../../orchestrator/sweep/axis.ts';
import { workerPool } from '../../orchestrator/sweep/pool.ts';
import type { SweepSpec } from '../../orchestrator/sweep/spec.ts';
import { executeSweep } from '../../orchestrator/sweep/sweep.ts';

export interface SweepBenchResult {
  readonly cells: number;
  readonly wallSeconds: number;
  readonly cellsPerSecond: number;
}

export const BENCH_SWEEP: SweepSpec = {
  scenario: 'partition-c',
  engine: 'sim',
  policies: ['vanilla', 'memalloc'],
  x: parseAxis('--x', 'flood.connections=0..72:10'),
  y: parseAxis('--y', 'fault.durationSeconds=1..10:10'),
  seeds: 1,
  sets: [],
};

export async function benchSweep(
  log: (line: string) => void = () => {},
): Promise<SweepBenchResult> {
  const jobs = availableParallelism();
  const pool = workerPool(
    new URL('../../orchestrator/sweep/run-job.ts', import.meta.url).href,
    jobs,
  );
  const t0 = performance.now();
  try {
    const r = await executeSweep({ spec: BENCH_SWEEP, shard: null, refine: 0, pool });
    const wallSeconds = (performance.now() - t0) / 1000;
    const counts: Record<string, number> = {};
    for (const c of r.json.cells)
      counts[`${c.policy} ${c.verdict}`] = (counts[`${c.policy} ${c.verdict}`] ?? 0) + 1;
    log(
      `sweep: ${r.json.cells.length} cells on ${jobs} threads in ${wallSeconds.toFixed(1)} s: ${JSON.stringify(counts)}`,
    );
    return {
      cells: r.json.cells.length,
      wallSeconds: Number(wallSeconds.toFixed(1)),
      cellsPerSecond: Number((r.json.cells.length / wallSeconds).toFixed(2)),
    };
  } finally {
    await pool.close();
  }
}
