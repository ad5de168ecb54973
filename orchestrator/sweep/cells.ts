// From runs to cells: a cell is one policy at one point of the grid, its runs the seeds.
// It counts each verdict over the seeds (a cell whose seeds disagree is split: the
// boundary runs through it), takes the most frequent as its verdict, and summarises the
// figures. Then the `sweep --json` object of DESIGN.md section 12. Pure.
import { VERDICTS, type Verdict } from '../verdict.ts';
import type { AxisValue } from './axis.ts';
import { gridRuns, runId, type RunKey, type RunOutcome, type SweepSpec } from './spec.ts';

export interface SweepCell {
  readonly policy: string;
  readonly x: AxisValue;
  readonly y: AxisValue | null;
  /** How many seeds gave each verdict (only verdicts that occurred). */
  readonly verdicts: Partial<Record<Verdict, number>>;
  /** The most frequent verdict (a tie goes to the one listed first in VERDICTS). */
  readonly verdict: Verdict;
  /** Median recovery over the seeds that recovered; null when none did. */
  readonly recoverySeconds: number | null;
  /** pfmemalloc skbs tossed, mean over the seeds. */
  readonly tossed: number;
  /** Memory held back by the watermarks, in pages (the same for every seed). */
  readonly heldBackPages: number;
}

/** A point between two grid cells along x, found by --refine. */
export interface SweepBoundary {
  readonly policy: string;
  readonly y: AxisValue | null;
  /** The last x with the lower cell's verdict, and the first with another. */
  readonly from: { readonly x: AxisValue; readonly verdict: Verdict };
  readonly to: { readonly x: AxisValue; readonly verdict: Verdict };
  /** to.x - from.x: the threshold lies in between. */
  readonly precision: number;
  /** The cells run to narrow it, in x order. */
  readonly probes: readonly SweepCell[];
}

/** `swapnet sweep --json` (DESIGN.md section 12); `boundaries` only with --refine. */
export interface SweepJson {
  readonly scenario: string;
  readonly engine: string;
  readonly policies: readonly string[];
  readonly x: { readonly knob: string; readonly values: readonly AxisValue[] };
  readonly y: { readonly knob: string; readonly values: readonly AxisValue[] } | null;
  readonly cells: readonly SweepCell[];
  readonly boundaries?: readonly SweepBoundary[];
}

/** Whether the cell's seeds disagree. */
export function isSplit(cell: Pick<SweepCell, 'verdicts'>): boolean {
  return Object.keys(cell.verdicts).length > 1;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const m =
    s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return Number(m.toFixed(2));
}

/** The cell of `outcomes` (one per seed, at least one). */
export function cellOf(
  policy: string,
  x: AxisValue,
  y: AxisValue | null,
  outcomes: readonly RunOutcome[],
): SweepCell {
  const verdicts: Partial<Record<Verdict, number>> = {};
  for (const o of outcomes) verdicts[o.verdict] = (verdicts[o.verdict] ?? 0) + 1;
  // The most frequent; a tie goes to the first in VERDICTS order.
  const top = Math.max(...Object.values(verdicts));
  const verdict = VERDICTS.find((v) => verdicts[v] === top) ?? 'completed';
  const recovered = outcomes.map((o) => o.recoverySeconds).filter((r): r is number => r !== null);
  const tossed = outcomes.reduce((a, o) => a + o.tossed, 0) / Math.max(1, outcomes.length);
  return {
    policy,
    x,
    y,
    verdicts: Object.fromEntries(VERDICTS.filter((v) => verdicts[v]).map((v) => [v, verdicts[v]])),
    verdict,
    recoverySeconds: median(recovered),
    tossed: Math.round(tossed),
    heldBackPages: Math.max(...outcomes.map((o) => o.heldBackPages)),
  };
}

/** The runs of each cell, by the cell's key (policy, x, y). */
export function cellKey(k: Pick<RunKey, 'policy' | 'x' | 'y'>): string {
  return JSON.stringify([k.policy, k.x, k.y]);
}

/**
 * The grid's cells from the outcomes found, in the canonical order; a cell missing any
 * of its seeds is left out (`missing` counts the runs not found).
 */
export function gridCells(
  spec: SweepSpec,
  outcomes: ReadonlyMap<string, RunOutcome>,
): { cells: SweepCell[]; missing: RunKey[] } {
  const cells: SweepCell[] = [];
  const missing: RunKey[] = [];
  let group: RunOutcome[] = [];
  let complete = true;
  const runs = gridRuns(spec);
  for (const k of runs) {
    const o = outcomes.get(runId(k));
    if (o) group.push(o);
    else {
      missing.push(k);
      complete = false;
    }
    if (k.seed === spec.seeds) {
      if (complete && group.length > 0) cells.push(cellOf(k.policy, k.x, k.y, group));
      group = [];
      complete = true;
    }
  }
  return { cells, missing };
}

/** The `--json` object. */
export function sweepJson(
  spec: SweepSpec,
  cells: readonly SweepCell[],
  boundaries?: readonly SweepBoundary[],
): SweepJson {
  return {
    scenario: spec.scenario,
    engine: spec.engine,
    policies: spec.policies,
    x: { knob: spec.x.knob, values: spec.x.values },
    y: spec.y ? { knob: spec.y.knob, values: spec.y.values } : null,
    cells,
    ...(boundaries ? { boundaries } : {}),
  };
}
