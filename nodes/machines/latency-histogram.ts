// A cumulative latency histogram with fixed log-spaced bounds, cheap to observe and to
// ship in /status; quantiles of any interval come from the difference of two snapshots
// (the upper bound of the bucket holding the quantile). Pure.

/** Upper bounds of the buckets in ms; the last bucket (beyond 10 s) is unbounded. */
export const LATENCY_BOUNDS_MS = [
  0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000,
] as const;

export class LatencyHistogram {
  /** counts[i]: observations <= LATENCY_BOUNDS_MS[i] and above the bound before; last: beyond. */
  readonly counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > (LATENCY_BOUNDS_MS[i] as number)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
  }
}

/** later - earlier, bucket by bucket (both cumulative snapshots of one histogram). */
export function countsBetween(
  earlier: readonly number[] | undefined,
  later: readonly number[],
): number[] {
  return later.map((c, i) => c - (earlier?.[i] ?? 0));
}

/**
 * The q-quantile (0 < q <= 1) of the observations in `counts`, as the upper bound of its
 * bucket in ms (Infinity beyond the last bound); null when there are none.
 */
export function quantileMs(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return LATENCY_BOUNDS_MS[i] ?? Infinity;
  }
  return Infinity;
}
