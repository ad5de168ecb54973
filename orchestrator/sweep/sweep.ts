// Running a sweep: the grid's runs (or one shard's) that its folder does not hold yet go
// through the pool; each is kept on disk the moment it ends; then the cells, and with
// --refine the boundaries, are made from every run found. Ctrl-C (the signal) stops
// the pool: what finished is kept and the result says it was interrupted.
import {
  cellOf,
  gridCells,
  sweepJson,
  type SweepBoundary,
  type SweepCell,
  type SweepJson,
} from './cells.ts';
import { SweepAbortedError, type Pool } from './pool.ts';
import { refineBoundaries } from './refine.ts';
import {
  jobOf,
  runId,
  shardRuns,
  type RunKey,
  type RunOutcome,
  type Shard,
  type SweepSpec,
} from './spec.ts';
import { readRuns, writeRun } from './store.ts';
import type { AxisValue } from './axis.ts';

export interface SweepProgress {
  /** Runs finished in this invocation, and how many it has to run in all (so far). */
  readonly done: number;
  readonly total: number;
  readonly key: RunKey;
  readonly outcome: RunOutcome;
}

export interface SweepOptions {
  readonly spec: SweepSpec;
  readonly shard: Shard | null;
  /** Bisection rounds between disagreeing neighbours (0: none). */
  readonly refine: number;
  readonly pool: Pool;
  /** The sweep's folder: runs found there are not run again; new ones are kept there. */
  readonly dir?: string;
  readonly signal?: AbortSignal;
  readonly onRun?: (p: SweepProgress) => void;
  /** Called with the number of runs about to start (grid, then each refine round). */
  readonly onPlanned?: (runs: number) => void;
}

export interface SweepOutcome {
  readonly json: SweepJson;
  /** Runs of this slice not finished (interrupted). */
  readonly missing: readonly RunKey[];
  readonly interrupted: boolean;
  /** Runs this invocation ran (the rest came from the folder). */
  readonly ran: number;
  readonly outcomes: ReadonlyMap<string, RunOutcome>;
}

/** Runs the sweep; rejects with the first run's error that is not an abort (finished runs kept). */
export async function executeSweep(opts: SweepOptions): Promise<SweepOutcome> {
  const { spec, pool } = opts;
  const outcomes = opts.dir ? readRuns(opts.dir) : new Map<string, RunOutcome>();
  let done = 0;
  let total = 0;
  let failure: unknown;
  const stopped = (): boolean => Boolean(opts.signal?.aborted) || failure !== undefined;
  const onAbort = (): void => pool.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  /** Runs the keys not yet found; resolves when each has finished or failed. */
  const runAll = async (keys: readonly RunKey[]): Promise<void> => {
    const todo = keys.filter((k) => !outcomes.has(runId(k)));
    total += todo.length;
    opts.onPlanned?.(todo.length);
    await Promise.all(
      todo.map(async (key) => {
        try {
          const outcome = await pool.run(jobOf(spec, key));
          outcomes.set(runId(key), outcome);
          if (opts.dir) writeRun(opts.dir, key, outcome);
          done++;
          opts.onRun?.({ done, total, key, outcome });
        } catch (err) {
          if (err instanceof SweepAbortedError) return;
          if (failure === undefined) {
            failure = err;
            pool.abort();
          }
        }
      }),
    );
  };

  try {
    const slice = shardRuns(spec, opts.shard);
    if (!stopped()) await runAll(slice);
    if (failure !== undefined) throw failure;
    const inSlice = new Map(slice.map((k) => [runId(k), outcomes.get(runId(k))] as const));
    const found = new Map(
      [...inSlice].filter((e): e is [string, RunOutcome] => e[1] !== undefined),
    );
    const { cells } = gridCells(spec, found);
    const missing = slice.filter((k) => !found.has(runId(k)));

    let boundaries: SweepBoundary[] | undefined;
    if (opts.refine > 0 && !stopped() && missing.length === 0) {
      const probe = async (policy: string, x: number, y: AxisValue | null): Promise<SweepCell> => {
        const keys = Array.from({ length: spec.seeds }, (_, i) => ({ policy, x, y, seed: i + 1 }));
        await runAll(keys);
        const got = keys.map((k) => outcomes.get(runId(k)));
        if (got.some((o) => o === undefined)) throw failure ?? new SweepAbortedError();
        return cellOf(policy, x, y, got as RunOutcome[]);
      };
      try {
        boundaries = await refineBoundaries(spec, cells, opts.refine, probe, stopped);
      } catch (err) {
        if (!(err instanceof SweepAbortedError)) throw err;
      }
      if (failure !== undefined) throw failure;
    }
    return {
      json: sweepJson(spec, cells, boundaries),
      missing,
      interrupted: Boolean(opts.signal?.aborted),
      ran: done,
      outcomes,
    };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
