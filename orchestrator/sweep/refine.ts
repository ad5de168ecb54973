// --refine K: where two neighbouring cells along x (same policy, same y) disagree, the
// threshold lies between them; K rounds of bisection narrow it. Each round probes the
// middle of every open interval (all seeds, as a grid cell), and keeps the half whose
// ends still disagree: a probe with the lower end's verdict moves the lower end up,
// any other verdict moves the upper end down. An integer knob stops when the ends are
// neighbours; a log axis halves the ratio. Pure apart from `probe`, which runs a point.
import { isIntegerKnob, midpoint, type AxisValue } from './axis.ts';
import type { SweepBoundary, SweepCell } from './cells.ts';
import type { SweepSpec } from './spec.ts';

/** Runs every seed of one point and returns its cell. */
export type Probe = (policy: string, x: number, y: AxisValue | null) => Promise<SweepCell>;

interface Open {
  readonly policy: string;
  readonly y: AxisValue | null;
  lo: SweepCell;
  hi: SweepCell;
  readonly probes: SweepCell[];
}

/** Neighbouring cells along x whose verdicts differ (numeric x only), in grid order. */
export function disagreements(spec: SweepSpec, cells: readonly SweepCell[]): Open[] {
  const out: Open[] = [];
  const ys = spec.y ? spec.y.values : [null];
  for (const policy of spec.policies) {
    for (const y of ys) {
      const row = cells
        .filter(
          (c) =>
            c.policy === policy &&
            JSON.stringify(c.y) === JSON.stringify(y) &&
            typeof c.x === 'number',
        )
        .sort((a, b) => (a.x as number) - (b.x as number));
      for (let i = 1; i < row.length; i++) {
        const lo = row[i - 1] as SweepCell;
        const hi = row[i] as SweepCell;
        if (lo.verdict !== hi.verdict) out.push({ policy, y, lo, hi, probes: [] });
      }
    }
  }
  return out;
}

function canSplit(spec: SweepSpec, o: Open): number | null {
  const a = o.lo.x as number;
  const b = o.hi.x as number;
  const m = midpoint(spec.x, a, b);
  if (isIntegerKnob(spec.x.knob) && b - a <= 1) return null;
  return m > a && m < b ? m : null;
}

/** Bisects every disagreement `steps` times; returns the boundaries found. */
export async function refineBoundaries(
  spec: SweepSpec,
  cells: readonly SweepCell[],
  steps: number,
  probe: Probe,
  stopped: () => boolean = () => false,
): Promise<SweepBoundary[]> {
  const open = disagreements(spec, cells);
  for (let step = 0; step < steps && !stopped(); step++) {
    const round = open
      .map((o) => ({ o, m: canSplit(spec, o) }))
      .filter((r): r is { o: Open; m: number } => r.m !== null);
    if (round.length === 0) break;
    const found = await Promise.all(round.map(({ o, m }) => probe(o.policy, m, o.y)));
    for (const [i, { o }] of round.entries()) {
      const cell = found[i] as SweepCell;
      o.probes.push(cell);
      if (cell.verdict === o.lo.verdict) o.lo = cell;
      else o.hi = cell;
    }
  }
  return open.map((o) => ({
    policy: o.policy,
    y: o.y,
    from: { x: o.lo.x, verdict: o.lo.verdict },
    to: { x: o.hi.x, verdict: o.hi.verdict },
    precision: Number(((o.hi.x as number) - (o.lo.x as number)).toPrecision(12)),
    probes: [...o.probes].sort((a, b) => (a.x as number) - (b.x as number)),
  }));
}
