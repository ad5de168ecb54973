// What a report draws, derived from run records: one chart spec per view of machine A
// (memory by state, free memory against the watermarks, reserve, writeout, RX drops,
// tcp_mem), each a shared time axis and named series, plus the fault periods to shade.
// Pure: the HTML report (uPlot in the page) and the SVG picture draw the same specs, and
// the unit tests check them on records made up in the test.
import type { FaultPeriod, RunRecord, TimelinePoint } from './runner.ts';

/** One line of a chart. `values[i]` belongs to the chart's `x[i]`; null: no sample. */
export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
  /** Drawn dashed: a limit (watermark, reserve size, tcp_mem level) rather than a level. */
  readonly dash?: boolean;
  /** Which y axis the series is read against (default left). */
  readonly axis?: 'left' | 'right';
}

export type ChartId = 'memory' | 'free' | 'reserve' | 'writeout' | 'drops' | 'tossed' | 'tcpmem';

export interface ChartSpec {
  readonly id: ChartId;
  readonly title: string;
  /** Unit of the left axis. */
  readonly unit: string;
  /** Unit of the right axis, when a series uses it. */
  readonly rightUnit?: string;
  /**
   * Top of the left axis when the values go far above what matters (free memory starts
   * at all of RAM before the hog fills it; the story is around the watermarks).
   */
  readonly leftCap?: number;
  /** Logarithmic left axis (memory by state spans 100 to 65,000 pages); zeros are gaps. */
  readonly log?: boolean;
  /** Seconds since the run began. */
  readonly x: readonly number[];
  readonly series: readonly ChartSeries[];
}

/** A fault period to shade, in seconds since the run began. */
export interface FaultBand {
  readonly from: number;
  readonly to: number;
  readonly label: string;
}

/** Everything a report shows of one run. */
export interface RunView {
  /** File-name stem of the run's record (`<scenario>-<policy>`). */
  readonly name: string;
  readonly record: RunRecord;
  readonly charts: readonly ChartSpec[];
  readonly bands: readonly FaultBand[];
  /** Seconds of the last sample (0 without samples). */
  readonly endSeconds: number;
}

/** Axis ranges shared by the runs of a report, so side-by-side charts compare. */
export interface ChartScale {
  readonly xMax: number;
  /** Per chart: the largest value on its left and right axis over every run. */
  readonly y: Readonly<Record<ChartId, { left: number; right: number }>>;
}

/** Page states in the order /status lists them (DESIGN.md section 3). */
export const MEM_STATES = [
  'free',
  'anon',
  'file_clean',
  'file_dirty',
  'writeback',
  'skb',
  'kernel',
] as const;

/**
 * Socket classes whose pfmemalloc drops the 'tossed' chart always shows: the swap
 * socket's are C's replies (under vanilla, what wedges A after the heal), the service's
 * are B's data (under memalloc, what is tossed so that C's replies get through).
 */
export const TOSSED_CLASSES = [
  ['swap', "swap socket (C's replies)", '#cc2936'],
  ['service', "service (B's data)", '#3465a4'],
] as const;

/** Drop reasons of A's receive path always shown (others appear when they count). */
export const DROP_REASONS = ['pfmemalloc', 'nomem', 'proto_mem', 'rcvbuf'] as const;

const STATE_COLORS: Record<string, string> = {
  free: '#2e9e44',
  anon: '#3465a4',
  file_clean: '#8ab4e8',
  file_dirty: '#a86fb3',
  writeback: '#e07b00',
  skb: '#cc2936',
  kernel: '#777777',
};
const LIMIT_COLORS = ['#b08900', '#d06000', '#8b0000'] as const;
const EXTRA_COLORS = ['#17a2b8', '#6c757d', '#6610f2', '#e83e8c', '#20c997'] as const;

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function column(
  timeline: readonly TimelinePoint[],
  pick: (p: TimelinePoint) => unknown,
): (number | null)[] {
  return timeline.map((p) => finite(pick(p)));
}

/** Keys seen in any sample's record-valued field, known ones first in their order. */
function keysOf(
  timeline: readonly TimelinePoint[],
  pick: (p: TimelinePoint) => Record<string, number> | undefined,
  known: readonly string[],
): string[] {
  const seen = new Set<string>();
  for (const p of timeline) for (const k of Object.keys(pick(p) ?? {})) seen.add(k);
  return [...known, ...[...seen].filter((k) => !known.includes(k)).sort()];
}

function colorOf(key: string, palette: Record<string, string>, extraIndex: number): string {
  return palette[key] ?? EXTRA_COLORS[extraIndex % EXTRA_COLORS.length] ?? '#000000';
}

const WATERMARKS = ['min', 'low', 'high'] as const;
/** The free-memory chart shows up to this many times the high watermark. */
export const FREE_CAP_HIGHS = 4;

function watermarkSeries(timeline: readonly TimelinePoint[]): ChartSeries[] {
  return WATERMARKS.map((level, i) => ({
    label: `watermark ${level}`,
    color: LIMIT_COLORS[i] ?? '#000000',
    values: column(timeline, (p) => p.watermarks?.[level]),
    dash: true,
  }));
}

/** The charts of one run, from its timeline (missing fields become gaps, never zeros). */
export function chartsOf(record: RunRecord): ChartSpec[] {
  const tl = record.timeline;
  const x = tl.map((p) => p.t);
  const states = keysOf(tl, (p) => p.pages, MEM_STATES);
  let extra = 0;
  const memory: ChartSpec = {
    id: 'memory',
    title: 'Memory by state',
    unit: 'pages (log)',
    log: true,
    x,
    series: [
      ...states.map((state) => ({
        label: state,
        color: colorOf(state, STATE_COLORS, extra++),
        // A log axis has no zero: an empty state is a gap (its legend still reads 0).
        values: column(tl, (p) => p.pages?.[state]).map((v) => (v === 0 ? null : v)),
      })),
      ...watermarkSeries(tl),
    ],
  };
  const highs = column(tl, (p) => p.watermarks?.high).filter((v): v is number => v !== null);
  const free: ChartSpec = {
    id: 'free',
    title: 'Free memory against the watermarks',
    unit: 'pages',
    ...(highs.length > 0 ? { leftCap: FREE_CAP_HIGHS * Math.max(...highs) } : {}),
    x,
    series: [
      {
        label: 'free',
        color: STATE_COLORS.free ?? '#2e9e44',
        values: column(tl, (p) => p.pages?.free),
      },
      ...watermarkSeries(tl),
    ],
  };
  const reserveSize = finite(record.result.reserve?.sizePages);
  const reserve: ChartSpec = {
    id: 'reserve',
    title: 'Memalloc reserve used',
    unit: 'pages',
    x,
    series: [
      { label: 'reserve used', color: '#cc2936', values: column(tl, (p) => p.reserveUsed) },
      {
        label: 'reserve size',
        color: LIMIT_COLORS[0],
        values: x.map(() => reserveSize),
        dash: true,
      },
    ],
  };
  const writeout: ChartSpec = {
    id: 'writeout',
    title: 'Swap writeout: pending (left), completed in all (right)',
    unit: 'pending',
    rightUnit: 'completed',
    x,
    series: [
      { label: 'pending', color: '#e07b00', values: column(tl, (p) => p.pending) },
      {
        label: 'completed (total)',
        color: '#3465a4',
        values: column(tl, (p) => p.completed),
        axis: 'right',
      },
    ],
  };
  extra = 0;
  const reasons = keysOf(tl, (p) => p.drops, DROP_REASONS).filter(
    (r) =>
      (DROP_REASONS as readonly string[]).includes(r) || tl.some((p) => (p.drops?.[r] ?? 0) > 0),
  );
  const dropColors: Record<string, string> = {
    pfmemalloc: '#cc2936',
    nomem: '#e07b00',
    proto_mem: '#6610f2',
    rcvbuf: '#2e9e44',
  };
  const drops: ChartSpec = {
    id: 'drops',
    title: 'RX drops by reason (total)',
    unit: 'frames',
    x,
    series: reasons.map((reason) => ({
      label: reason,
      color: colorOf(reason, dropColors, extra++),
      // A reason /status does not list has dropped nothing.
      values: tl.map((p) => (p.drops ? (finite(p.drops[reason]) ?? 0) : null)),
    })),
  };
  const known = TOSSED_CLASSES.map(([c]) => c as string);
  const otherClasses = keysOf(tl, (p) => p.tossedByClass, known).filter(
    (c) => !known.includes(c) && tl.some((p) => (p.tossedByClass?.[c] ?? 0) > 0),
  );
  extra = 0;
  const tossed: ChartSpec = {
    id: 'tossed',
    title: 'Whose packets were tossed: pfmemalloc drops by socket (total)',
    unit: 'frames',
    x,
    series: [
      ...TOSSED_CLASSES.map(([cls, label, color]) => ({
        label,
        color,
        // A record of an older version has no per-class counts: gaps, not zeros.
        values: tl.map((p) => (p.tossedByClass ? (finite(p.tossedByClass[cls]) ?? 0) : null)),
      })),
      ...otherClasses.map((cls) => ({
        label: cls,
        color: colorOf(cls, {}, extra++),
        values: tl.map((p) => (p.tossedByClass ? (finite(p.tossedByClass[cls]) ?? 0) : null)),
      })),
    ],
  };
  const tcpmem: ChartSpec = {
    id: 'tcpmem',
    title: 'tcp_mem',
    unit: 'pages',
    x,
    series: [
      { label: 'allocated', color: '#3465a4', values: column(tl, (p) => p.tcpMem) },
      ...(['min', 'pressure', 'max'] as const).map((level, i) => ({
        label: `tcp_mem ${level}`,
        color: LIMIT_COLORS[i] ?? '#000000',
        values: column(tl, (p) => p.tcpMemLimits?.[i]),
        dash: true,
      })),
    ],
  };
  return [memory, free, reserve, writeout, drops, tossed, tcpmem];
}

/** Fault periods as bands; one still open at the end runs to the last sample. */
export function faultBands(faults: readonly FaultPeriod[], endSeconds: number): FaultBand[] {
  return faults
    .filter((f) => Number.isFinite(f.from))
    .map((f) => ({
      from: f.from,
      to: f.to !== null && Number.isFinite(f.to) ? f.to : Math.max(f.from, endSeconds),
      label: `${f.target} ${f.mode}`,
    }));
}

/** The view of one run: its charts and fault bands. */
export function runView(name: string, record: RunRecord): RunView {
  const endSeconds = record.timeline.at(-1)?.t ?? 0;
  return {
    name,
    record,
    charts: chartsOf(record),
    bands: faultBands(record.faults, endSeconds),
    endSeconds,
  };
}

function maxOf(values: readonly (number | null)[]): number {
  let m = 0;
  for (const v of values) if (v !== null && v > m) m = v;
  return m;
}

/**
 * The shared ranges: the longest run and, per chart and axis, the largest value (left
 * axes no higher than the largest of the runs' caps).
 */
export function sharedScale(views: readonly RunView[]): ChartScale {
  const y = {} as Record<ChartId, { left: number; right: number }>;
  const caps = new Map<ChartId, number>();
  let xMax = 0;
  for (const v of views) {
    xMax = Math.max(xMax, v.endSeconds, ...v.bands.map((b) => b.to));
    for (const c of v.charts) {
      const cur = (y[c.id] ??= { left: 0, right: 0 });
      for (const s of c.series) {
        const side = s.axis ?? 'left';
        cur[side] = Math.max(cur[side], maxOf(s.values));
      }
      if (c.leftCap !== undefined) caps.set(c.id, Math.max(caps.get(c.id) ?? 0, c.leftCap));
    }
  }
  for (const [id, cap] of caps) if (y[id]) y[id].left = Math.min(y[id].left, cap);
  return { xMax, y };
}
