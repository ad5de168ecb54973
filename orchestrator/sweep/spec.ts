// What a sweep is: one scenario under several policies over a grid of knob values, each
// point run with seeds 1..N. The grid's runs come in one canonical order (policy, then
// y, then x, then seed), which is what makes `--shard I/N` a deterministic slice any
// machine computes alike, and a sweep's id (a digest of everything that decides its
// results) is what lets `sweep merge` refuse slices of different sweeps.
import { createHash } from 'node:crypto';
import { ConfigError } from '../../reserve/errors.ts';
import type { Verdict } from '../verdict.ts';
import type { RunResult } from '../runner.ts';
import { valueText, type Axis, type AxisValue } from './axis.ts';

export const ENGINES = ['sim', 'real', 'uml'] as const;
export type Engine = (typeof ENGINES)[number];

export interface SweepSpec {
  /** A built-in's name or a scenario file's path, as given. */
  readonly scenario: string;
  readonly engine: Engine;
  readonly policies: readonly string[];
  readonly x: Axis;
  readonly y: Axis | null;
  /** Seeds 1..seeds for every point. */
  readonly seeds: number;
  /** Fixed `--set key=value` texts under the axes. */
  readonly sets: readonly string[];
}

/** One run of the grid (or of a --refine probe): a policy, a point, a seed. */
export interface RunKey {
  readonly policy: string;
  readonly x: AxisValue;
  readonly y: AxisValue | null;
  readonly seed: number;
}

/** Everything a worker needs to run one key on its own. */
export interface SweepJob extends RunKey {
  readonly scenario: string;
  readonly engine: Engine;
  /** The fixed sets, then the axes' knobs (an axis has the last word). */
  readonly sets: readonly string[];
}

/** What a run leaves for its cell: the verdict and the figures the sweep reports. */
export interface RunOutcome {
  readonly verdict: Verdict;
  readonly recoverySeconds: number | null;
  /** pfmemalloc skbs tossed at demux, in all. */
  readonly tossed: number;
  /** The same by socket class (swap: C's replies, service: B's data). */
  readonly tossedByClass: Readonly<Record<string, number>>;
  /** Memory the watermarks keep out of use (the policy's cost), in pages. */
  readonly heldBackPages: number;
  readonly result: RunResult;
}

export interface Shard {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
}

/** Parses `I/N` (1 <= I <= N); a ConfigError naming --shard otherwise. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || !(count >= 1) || !(index >= 1) || index > count || count > 1_000_000)
    throw new ConfigError(
      '--shard',
      `"${text}" is not a slice I/N with 1 <= I <= N (e.g. 1/4, the first of four)`,
    );
  return { index, count };
}

/** Every run of the grid, in the canonical order: policy, then y, then x, then seed. */
export function gridRuns(spec: SweepSpec): RunKey[] {
  const ys: (AxisValue | null)[] = spec.y ? [...spec.y.values] : [null];
  const out: RunKey[] = [];
  for (const policy of spec.policies)
    for (const y of ys)
      for (const x of spec.x.values)
        for (let seed = 1; seed <= spec.seeds; seed++) out.push({ policy, x, y, seed });
  return out;
}

/**
 * The runs of shard I/N: the cells (all seeds of a point together, so a slice's cells
 * are whole) numbered in the canonical order, every N-th from the I-th. Interleaved
 * rather than in blocks, so each shard gets its share of every policy and every region
 * of the map, and shards take about as long when cells differ in cost.
 */
export function shardRuns(spec: SweepSpec, shard: Shard | null): RunKey[] {
  const runs = gridRuns(spec);
  if (!shard) return runs;
  return runs.filter((_, i) => Math.floor(i / spec.seeds) % shard.count === shard.index - 1);
}

/** A run's identity as text (the same key gives the same text on every machine). */
export function runId(k: RunKey): string {
  return JSON.stringify([k.policy, k.x, k.y, k.seed]);
}

/** The job of a key: the spec's sets, then x's and y's knob. */
export function jobOf(spec: SweepSpec, k: RunKey): SweepJob {
  const sets = [...spec.sets, `${spec.x.knob}=${valueText(k.x)}`];
  if (spec.y) sets.push(`${spec.y.knob}=${valueText(k.y)}`);
  return { ...k, scenario: spec.scenario, engine: spec.engine, sets };
}

/**
 * The sweep's id: a digest of the spec and of the scenario it loaded (so a file edited
 * between two shards is caught), but not of how it is run (jobs, shard, refine).
 */
export function sweepId(spec: SweepSpec, scenarioContent: unknown): string {
  const canonical = JSON.stringify({
    scenario: spec.scenario,
    scenarioContent,
    engine: spec.engine,
    policies: spec.policies,
    x: spec.x,
    y: spec.y,
    seeds: spec.seeds,
    sets: spec.sets,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
