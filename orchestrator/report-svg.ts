// A static picture of runs side by side, as one SVG: a column per run (its verdict on
// top), a row per chart of report-charts.ts on shared axis ranges, fault periods shaded.
// For places that show no HTML (the README); drawn without a browser, from run records.
// Pure: views in, SVG text out.
import { escapeHtml } from './report.ts';
import { sharedScale, type ChartId, type ChartSpec, type RunView } from './report-charts.ts';

export interface SvgOptions {
  /** Which charts, in order (default: memory, free, writeout, drops). */
  readonly charts?: readonly ChartId[];
  /** Width of one panel in pixels (default 460). */
  readonly panelWidth?: number;
  /** Height of one panel's plot area in pixels (default 120). */
  readonly plotHeight?: number;
  /** A line under the title (default: the scenario and its fault periods). */
  readonly subtitle?: string;
}

export const SVG_DEFAULT_CHARTS: readonly ChartId[] = ['memory', 'free', 'writeout', 'drops'];

const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const BAND_FILL = 'rgba(204, 41, 54, 0.14)';
const VERDICT_COLORS: Record<string, string> = {
  completed: '#2e7d32',
  deadlock: '#c62828',
  'data-loss': '#c62828',
  livelock: '#ef6c00',
  oom: '#ef6c00',
};

const MARGIN = { left: 58, right: 58, top: 20, bottom: 20 } as const;
const LEGEND_LINE = 14;
const HEADER = 58;
const COLUMN_HEADER = 40;
const GAP = 16;

/** Rounds for compact path data. */
function r1(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

/** 1-2-5 ticks from 0 to max (at most ~5). */
export function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0];
  const raw = max / 4;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const out: number[] = [];
  for (let v = 0; v <= max * 1.0001; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function label(n: number): string {
  if (n >= 1_000_000) return `${r1(n / 1_000_000)}M`;
  if (n >= 10_000) return `${r1(n / 1000)}k`;
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

interface Axis {
  readonly max: number;
  readonly log: boolean;
  /** Pixel y of a value (clamped to the plot). */
  readonly y: (v: number) => number;
  readonly ticks: readonly number[];
}

function axisOf(max: number, log: boolean, top: number, height: number): Axis {
  if (log) {
    const hi = Math.max(1, Math.ceil(Math.log10(Math.max(10, max))));
    const y = (v: number): number =>
      top + height - (Math.min(hi, Math.max(0, Math.log10(Math.max(1, v)))) / hi) * height;
    return { max: 10 ** hi, log, y, ticks: Array.from({ length: hi + 1 }, (_, i) => 10 ** i) };
  }
  const top1 = Math.max(1, max) * 1.05;
  const y = (v: number): number => top + height - (Math.min(top1, Math.max(0, v)) / top1) * height;
  return { max: top1, log, y, ticks: linearTicks(top1) };
}

/** Path data of a series: one segment per run of non-null values. */
function pathOf(
  xs: readonly number[],
  values: readonly (number | null)[],
  px: (t: number) => number,
  py: (v: number) => number,
): string {
  let d = '';
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    const v = values[i];
    const t = xs[i];
    if (v === null || v === undefined || t === undefined) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${r1(px(t))} ${r1(py(v))}`;
    pen = true;
  }
  return d;
}

function panel(
  view: RunView,
  chart: ChartSpec,
  x0: number,
  y0: number,
  width: number,
  plotHeight: number,
  scale: ReturnType<typeof sharedScale>,
  clipId: string,
): string {
  const left = x0 + MARGIN.left;
  const plotW = width - MARGIN.left - MARGIN.right;
  const top = y0 + MARGIN.top;
  const range = scale.y[chart.id] ?? { left: 1, right: 1 };
  const xMax = Math.max(1, scale.xMax);
  const px = (t: number): number => left + (Math.min(xMax, Math.max(0, t)) / xMax) * plotW;
  const la = axisOf(range.left, chart.log === true, top, plotHeight);
  const hasRight = chart.series.some((s) => s.axis === 'right');
  const ra = axisOf(range.right, false, top, plotHeight);
  const out: string[] = [];
  out.push(
    `<text x="${left}" y="${y0 + 13}" font-weight="600" font-size="12">${escapeHtml(chart.title)}</text>`,
  );
  out.push(
    `<clipPath id="${clipId}"><rect x="${left}" y="${top}" width="${plotW}" height="${plotHeight}"/></clipPath>`,
  );
  for (const b of view.bands) {
    const a = px(b.from);
    out.push(
      `<rect class="fault-band" x="${r1(a)}" y="${top}" width="${r1(Math.max(1, px(b.to) - a))}" height="${plotHeight}" fill="${BAND_FILL}"/>`,
    );
  }
  for (const t of la.ticks) {
    const y = r1(la.y(t));
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${left - 4}" y="${y}" dy="3.5" text-anchor="end" font-size="10" fill="#555">${label(t)}</text>`,
    );
  }
  if (hasRight)
    for (const t of ra.ticks)
      out.push(
        `<text x="${left + plotW + 4}" y="${r1(ra.y(t))}" dy="3.5" font-size="10" fill="#555">${label(t)}</text>`,
      );
  const xStep = xMax > 60 ? 20 : xMax > 30 ? 10 : 5;
  for (let t = 0; t <= xMax; t += xStep)
    out.push(
      `<text x="${r1(px(t))}" y="${top + plotHeight + 12}" text-anchor="middle" font-size="10" fill="#555">${t}s</text>`,
    );
  out.push(
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotHeight}" fill="none" stroke="#bbb"/>`,
  );
  out.push(
    `<text transform="translate(${x0 + 11} ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle" font-size="10" fill="#555">${escapeHtml(chart.unit)}</text>`,
  );
  if (hasRight && chart.rightUnit)
    out.push(
      `<text transform="translate(${x0 + width - 6} ${top + plotHeight / 2}) rotate(90)" text-anchor="middle" font-size="10" fill="#555">${escapeHtml(chart.rightUnit)}</text>`,
    );
  const lines = chart.series.map((s) => {
    const axis = s.axis === 'right' ? ra : la;
    const d = pathOf(chart.x, s.values, px, axis.y);
    if (d === '') return '';
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dash ? 1 : 1.6}"${s.dash ? ' stroke-dasharray="5 3"' : ''} stroke-linejoin="round"/>`;
  });
  out.push(`<g clip-path="url(#${clipId})">${lines.join('')}</g>`);
  // Legend under the x labels, wrapped to the panel's width.
  let lx = left;
  let ly = top + plotHeight + 28;
  for (const s of legendSeries(chart)) {
    const w = legendWidth(s.label);
    if (lx + w > left + plotW) {
      lx = left;
      ly += LEGEND_LINE;
    }
    out.push(
      `<line x1="${lx}" x2="${lx + 14}" y1="${ly - 3.5}" y2="${ly - 3.5}" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="4 2"' : ''}/>`,
      `<text x="${lx + 17}" y="${ly}" font-size="10" fill="#333">${escapeHtml(s.label)}</text>`,
    );
    lx += w;
  }
  return out.join('\n');
}

/** Series worth a legend entry: those with something drawn (a log chart's empty states are not). */
function legendSeries(chart: ChartSpec): ChartSpec['series'] {
  return chart.series.filter((s) => s.values.some((v) => v !== null));
}

/** Room for a legend entry: the swatch and the label at ~6.5 px a character (10 px font). */
function legendWidth(text: string): number {
  return 30 + text.length * 6.5;
}

/** How many legend lines a chart needs at `width` (the same wrapping as panel()). */
function legendLines(chart: ChartSpec, width: number): number {
  const plotW = width - MARGIN.left - MARGIN.right;
  let lines = 1;
  let used = 0;
  for (const s of legendSeries(chart)) {
    const w = legendWidth(s.label);
    if (used + w > plotW) {
      lines++;
      used = 0;
    }
    used += w;
  }
  return lines;
}

function defaultSubtitle(views: readonly RunView[]): string {
  const first = views[0];
  if (!first) return '';
  const scenarios = [...new Set(views.map((v) => v.record.result.scenario))].join(', ');
  const bands = first.bands
    .map((b) => `fault ${b.label} ${Math.round(b.from)}-${Math.round(b.to)} s`)
    .join(', ');
  return `${scenarios}${bands ? `: ${bands} (shaded)` : ''}; era ${first.record.result.era}, seed ${first.record.result.seed}; measured, one run at a time`;
}

/** The runs side by side as one SVG document. */
export function comparisonSvg(views: readonly RunView[], opts: SvgOptions = {}): string {
  const ids = opts.charts ?? SVG_DEFAULT_CHARTS;
  const width = opts.panelWidth ?? 460;
  const plotHeight = opts.plotHeight ?? 120;
  const scale = sharedScale(views);
  const rowHeights = ids.map((id) => {
    const legends = Math.max(
      1,
      ...views.map((v) => {
        const c = v.charts.find((x) => x.id === id);
        return c ? legendLines(c, width) : 1;
      }),
    );
    return MARGIN.top + plotHeight + MARGIN.bottom + legends * LEGEND_LINE + GAP;
  });
  const totalW = Math.max(1, views.length) * (width + GAP) + GAP;
  const totalH = HEADER + COLUMN_HEADER + rowHeights.reduce((a, b) => a + b, 0);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${totalW}" height="${totalH}" viewBox="0 0 ${totalW} ${totalH}" font-family="${FONT}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${GAP}" y="24" font-size="17" font-weight="700">swapnet: ${escapeHtml(views.map((v) => v.record.result.policy).join(' vs '))}</text>`,
    `<text x="${GAP}" y="44" font-size="12" fill="#444">${escapeHtml(opts.subtitle ?? defaultSubtitle(views))}</text>`,
  );
  views.forEach((view, col) => {
    const x0 = GAP + col * (width + GAP);
    const r = view.record.result;
    const color = VERDICT_COLORS[r.verdict] ?? '#555555';
    const head = `${r.policy}: `;
    out.push(
      `<g class="run" data-run="${col}">`,
      `<text x="${x0 + MARGIN.left}" y="${HEADER + 14}" font-size="14" font-weight="700">${escapeHtml(head)}<tspan fill="${color}">${escapeHtml(r.verdict)}</tspan></text>`,
      `<text x="${x0 + MARGIN.left}" y="${HEADER + 30}" font-size="11" fill="#444">${escapeHtml(view.record.reason ?? '')}</text>`,
    );
    let y = HEADER + COLUMN_HEADER;
    ids.forEach((id, row) => {
      const chart = view.charts.find((c) => c.id === id);
      if (chart) out.push(panel(view, chart, x0, y, width, plotHeight, scale, `clip-${col}-${id}`));
      y += rowHeights[row] ?? 0;
    });
    out.push('</g>');
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
