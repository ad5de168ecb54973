// What `swapnet sweep` prints without --json: one grid per policy (y down, x across),
// each cell its verdict, a split cell its counts (the boundary runs through it), then
// the boundaries --refine found. Also the progress line. Pure.
import type { Verdict } from '../verdict.ts';
import { isSplit, type SweepCell, type SweepJson } from './cells.ts';
import type { AxisValue } from './axis.ts';

const SHORT: Record<Verdict, string> = {
  completed: 'completed',
  deadlock: 'DEADLOCK',
  livelock: 'LIVELOCK',
  oom: 'OOM',
  'data-loss': 'DATA-LOSS',
};

/** A value as the tables and the report show it. */
export function showValue(v: AxisValue | null): string {
  return Array.isArray(v) ? `[${v.join(',')}]` : String(v);
}

/** A cell's verdict in a few characters: `DEADLOCK`, or `split c2/d1` when its seeds disagree. */
export function cellText(c: SweepCell): string {
  if (!isSplit(c)) return SHORT[c.verdict];
  const parts = Object.entries(c.verdicts).map(([v, n]) => `${v[0]}${n}`);
  return `split ${parts.join('/')}`;
}

function same(a: AxisValue | null, b: AxisValue | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The grids, one per policy. */
export function sweepText(json: SweepJson): string {
  const ys: (AxisValue | null)[] = json.y ? [...json.y.values] : [null];
  const out: string[] = [];
  for (const policy of json.policies) {
    const head = [
      json.y ? `${json.y.knob} \\ ${json.x.knob}` : json.x.knob,
      ...json.x.values.map(showValue),
    ];
    const rows = ys.map((y) => [
      json.y ? showValue(y) : '',
      ...json.x.values.map((x) => {
        const c = json.cells.find((k) => k.policy === policy && same(k.x, x) && same(k.y, y));
        return c ? cellText(c) : '-';
      }),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const fmt = (r: readonly string[]): string =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd();
    out.push(`${policy}:`, fmt(head), ...rows.map(fmt), '');
  }
  for (const b of json.boundaries ?? []) {
    out.push(
      `boundary: ${b.policy}${json.y ? ` at ${json.y.knob}=${showValue(b.y)}` : ''}: ${b.from.verdict} at ${json.x.knob}=${showValue(b.from.x)}, ${b.to.verdict} at ${showValue(b.to.x)} (precision ${b.precision}, ${b.probes.length} probes)`,
    );
  }
  const splits = json.cells.filter(isSplit).length;
  out.push(
    `${json.cells.length} cells${splits > 0 ? `, ${splits} split (seeds disagree: c = completed, d = deadlock, l = livelock, o = oom)` : ''}`,
  );
  return out.join('\n');
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** `37/200 runs (18%)  0:41 elapsed  ETA 3:02  <last run>`; the ETA from this invocation's pace. */
export function progressText(
  done: number,
  total: number,
  elapsedSeconds: number,
  last: string,
): string {
  const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
  const eta = done > 0 ? clock((elapsedSeconds / done) * (total - done)) : '?';
  const width = 20;
  const filled = total > 0 ? Math.round((done / total) * width) : width;
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  return `${bar} ${done}/${total} runs (${pct}%)  ${clock(elapsedSeconds)} elapsed  ETA ${eta}  ${last}`;
}
