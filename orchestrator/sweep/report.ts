// A sweep's report: one heatmap per policy (x across, y up, a colour per verdict, split
// cells hatched, the figures in each cell's tooltip), the policies side by side on the
// same axes, as one SVG (for the README) and in a self-contained HTML page with that
// SVG inline, a hover box, the boundaries --refine found and every cell in a table;
// plus the CSV of the cells. Pure: the sweep's JSON in, text out.
//
// Why hand-drawn SVG rather than a charting library: uPlot (already inlined in the run
// report) has no heatmap; a heatmap is a grid of rectangles, a few hundred elements at
// most, which SVG draws crisply at any size, keeps one DOM element per cell (hover and
// tests find them), prints and embeds in a README as the same file, and costs no bytes
// of library. A canvas would need its own hit-testing and could not be the README image.
import { escapeHtml, jsonForScript } from '../report.ts';
import { VERDICTS, type Verdict } from '../verdict.ts';
import type { AxisValue } from './axis.ts';
import { isSplit, type SweepCell, type SweepJson } from './cells.ts';
import { showValue } from './text.ts';

export const VERDICT_COLORS: Record<Verdict, string> = {
  completed: '#2e7d32',
  deadlock: '#c62828',
  livelock: '#ef6c00',
  oom: '#6a1b9a',
  'data-loss': '#212121',
};
const MISSING = '#dddddd';
const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/** What the sweep's report says beyond the JSON: how many seeds per cell. */
export interface SweepReportInfo {
  readonly seeds: number;
  /** Runs of the grid not finished (an interrupted sweep); 0 when whole. */
  readonly missingRuns: number;
}

function same(a: AxisValue | null, b: AxisValue | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function findCell(
  json: SweepJson,
  policy: string,
  x: AxisValue,
  y: AxisValue | null,
): SweepCell | undefined {
  return json.cells.find((c) => c.policy === policy && same(c.x, x) && same(c.y, y));
}

/** The text of a cell's tooltip: every figure it has. */
export function cellTip(json: SweepJson, c: SweepCell): string {
  const counts = Object.entries(c.verdicts)
    .map(([v, n]) => `${v} ${n}`)
    .join(', ');
  return [
    `${c.policy}: ${c.verdict}${isSplit(c) ? ' (split: a boundary)' : ''}`,
    `${json.x.knob} = ${showValue(c.x)}${json.y ? `, ${json.y.knob} = ${showValue(c.y)}` : ''}`,
    `seeds: ${counts}`,
    `recovery: ${c.recoverySeconds === null ? '-' : `${c.recoverySeconds} s after the heal`}`,
    `tossed (pfmemalloc): ${c.tossed}`,
    `held back: ${c.heldBackPages} pages (${((c.heldBackPages * 4096) / 2 ** 20).toFixed(1)} MiB)`,
  ].join('\n');
}

/** The label inside a cell: the verdict in short, or the counts of a split cell. */
function cellLabel(c: SweepCell): string {
  if (isSplit(c)) return Object.values(c.verdicts).join('/');
  return { completed: 'ok', deadlock: 'DL', livelock: 'LL', oom: 'OOM', 'data-loss': 'LOSS' }[
    c.verdict
  ];
}

export interface HeatmapOptions {
  /** Pixel size of a cell (default: fits ~420 px per panel, 18 to 56 px). */
  readonly cell?: number;
  readonly title?: string;
}

/** All policies' heatmaps side by side on the same axes, as one SVG document. */
export function heatmapSvg(
  json: SweepJson,
  info: SweepReportInfo,
  opts: HeatmapOptions = {},
): string {
  const xs = json.x.values;
  const ys: (AxisValue | null)[] = json.y ? [...json.y.values] : [null];
  const cell =
    opts.cell ?? Math.max(18, Math.min(56, Math.floor(420 / Math.max(xs.length, ys.length))));
  const yLabelWidth = json.y
    ? Math.max(40, 7 * Math.max(...ys.map((y) => showValue(y).length))) + 30
    : 16;
  const panelW = xs.length * cell;
  const panelH = ys.length * cell;
  const gap = 36;
  const top = 70;
  const left = yLabelWidth;
  const bottom = 56;
  const legendH = 28;
  const width = left + json.policies.length * (panelW + gap) - gap + 20;
  const height = top + panelH + bottom + legendH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="${FONT}" font-size="11" class="sweep-heatmap" role="img">`,
    `<defs><pattern id="split-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="rgba(255,255,255,0.55)"/></pattern></defs>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="20" font-size="15" font-weight="600">${escapeHtml(opts.title ?? `swapnet sweep: ${json.scenario}`)}</text>`,
    `<text x="8" y="38" fill="#555">${escapeHtml(`engine ${json.engine}, ${info.seeds} seed${info.seeds === 1 ? '' : 's'} per cell; x: ${json.x.knob}${json.y ? `, y: ${json.y.knob}` : ''}${info.missingRuns > 0 ? `; ${info.missingRuns} runs not finished (grey)` : ''}`)}</text>`,
  );
  const fontFor = (label: string): number =>
    Math.max(8, Math.min(12, Math.floor((cell - 4) / Math.max(2, label.length * 0.62))));
  json.policies.forEach((policy, p) => {
    const x0 = left + p * (panelW + gap);
    out.push(
      `<g class="panel" data-policy="${escapeHtml(policy)}">`,
      `<text x="${x0 + panelW / 2}" y="${top - 10}" text-anchor="middle" font-size="13" font-weight="600">${escapeHtml(policy)}</text>`,
    );
    ys.forEach((y, row) => {
      // The largest y on top, as on a plot.
      const cy = top + (ys.length - 1 - row) * cell;
      xs.forEach((x, col) => {
        const cx = x0 + col * cell;
        const c = findCell(json, policy, x, y);
        if (!c) {
          out.push(
            `<g class="cell missing" data-policy="${escapeHtml(policy)}" data-x="${escapeHtml(showValue(x))}" data-y="${escapeHtml(showValue(y))}"><rect x="${cx}" y="${cy}" width="${cell - 1}" height="${cell - 1}" fill="${MISSING}"/><title>${escapeHtml(`${policy}: not run`)}</title></g>`,
          );
          return;
        }
        const split = isSplit(c);
        const label = cellLabel(c);
        const tip = cellTip(json, c);
        out.push(
          `<g class="cell" data-policy="${escapeHtml(policy)}" data-x="${escapeHtml(showValue(x))}" data-y="${escapeHtml(showValue(y))}" data-verdict="${c.verdict}" data-split="${split}" data-tip="${escapeHtml(tip)}">`,
          `<rect x="${cx}" y="${cy}" width="${cell - 1}" height="${cell - 1}" fill="${VERDICT_COLORS[c.verdict]}"/>`,
          split
            ? `<rect x="${cx}" y="${cy}" width="${cell - 1}" height="${cell - 1}" fill="url(#split-hatch)" stroke="#000" stroke-width="1.5" class="split-mark"/>`
            : '',
          cell >= 22
            ? `<text x="${cx + (cell - 1) / 2}" y="${cy + (cell - 1) / 2 + 4}" text-anchor="middle" fill="#fff" font-size="${fontFor(label)}" font-weight="600" pointer-events="none">${escapeHtml(label)}</text>`
            : '',
          `<title>${escapeHtml(tip)}</title></g>`,
        );
      });
      if (p === 0 && json.y)
        out.push(
          `<text x="${left - 6}" y="${cy + cell / 2 + 4}" text-anchor="end">${escapeHtml(showValue(y))}</text>`,
        );
      // A boundary --refine found: a bar on the edge between the two grid cells it lies
      // between, its tooltip the threshold.
      for (const b of json.boundaries ?? []) {
        if (b.policy !== policy || !same(b.y, y)) continue;
        const edge = boundaryEdge(xs, b.from.x, b.to.x);
        if (edge === null) continue;
        const bx = x0 + edge * cell - 1;
        const label = `${showValue(b.from.x)}|${showValue(b.to.x)}`;
        const lw = label.length * 5.6 + 6;
        out.push(
          `<g class="boundary"><title>${escapeHtml(`${policy}: ${b.from.verdict} at ${json.x.knob} = ${showValue(b.from.x)}, ${b.to.verdict} at ${showValue(b.to.x)} (--refine, precision ${b.precision})`)}</title>`,
          `<rect x="${bx - 1.5}" y="${cy - 1}" width="3" height="${cell + 1}" fill="#000"/>`,
          // The threshold in figures, for where there is no hover (a README).
          `<rect x="${bx - lw / 2}" y="${cy + cell - 15}" width="${lw}" height="12" rx="3" fill="#fff" stroke="#000" stroke-width="0.8"/>`,
          `<text x="${bx}" y="${cy + cell - 6}" text-anchor="middle" font-size="9.5">${escapeHtml(label)}</text></g>`,
        );
      }
    });
    const xLabelEvery = Math.ceil((xs.length * 7 * 4) / Math.max(1, panelW));
    xs.forEach((x, col) => {
      if (col % xLabelEvery !== 0 && col !== xs.length - 1) return;
      const tx = x0 + col * cell + cell / 2;
      out.push(
        `<text x="${tx}" y="${top + panelH + 14}" text-anchor="middle">${escapeHtml(showValue(x))}</text>`,
      );
    });
    out.push(
      `<text x="${x0 + panelW / 2}" y="${top + panelH + 32}" text-anchor="middle" fill="#444">${escapeHtml(json.x.knob)}</text>`,
      '</g>',
    );
  });
  if (json.y)
    out.push(
      `<text transform="translate(12 ${top + panelH / 2}) rotate(-90)" text-anchor="middle" fill="#444">${escapeHtml(json.y.knob)}</text>`,
    );
  // Legend: the verdicts that occur, a split cell, a cell not run.
  let lx = 8;
  const ly = top + panelH + bottom;
  const seen = VERDICTS.filter((v) => json.cells.some((c) => c.verdicts[v]));
  const items: { fill: string; label: string; hatch?: boolean; bar?: boolean }[] = [
    ...seen.map((v) => ({ fill: VERDICT_COLORS[v], label: v })),
    ...(json.cells.some(isSplit)
      ? [{ fill: '#888', label: 'split: seeds disagree (a boundary)', hatch: true }]
      : []),
    ...(info.missingRuns > 0 ? [{ fill: MISSING, label: 'not run' }] : []),
    ...((json.boundaries ?? []).length > 0
      ? [
          {
            fill: '#000',
            label:
              'boundary found by --refine: last x with the left verdict | first with the other',
            bar: true,
          },
        ]
      : []),
  ];
  out.push('<g class="legend">');
  for (const it of items) {
    out.push(
      it.bar
        ? `<rect x="${lx + 5}" y="${ly}" width="3" height="14" fill="${it.fill}"/>`
        : `<rect x="${lx}" y="${ly}" width="14" height="14" fill="${it.fill}"/>`,
      it.hatch
        ? `<rect x="${lx}" y="${ly}" width="14" height="14" fill="url(#split-hatch)" stroke="#000"/>`
        : '',
      `<text x="${lx + 19}" y="${ly + 11}">${escapeHtml(it.label)}</text>`,
    );
    lx += 19 + it.label.length * 6.2 + 18;
  }
  out.push('</g>', '</svg>');
  return `${out.filter(Boolean).join('\n')}\n`;
}

/** The grid edge (1..n-1: between column i-1 and i) a refined boundary lies on, or null. */
function boundaryEdge(xs: readonly AxisValue[], from: AxisValue, to: AxisValue): number | null {
  if (typeof from !== 'number' || typeof to !== 'number') return null;
  for (let i = 1; i < xs.length; i++) {
    const a = xs[i - 1];
    const b = xs[i];
    if (typeof a !== 'number' || typeof b !== 'number') continue;
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    if (from >= lo && to <= hi) return i;
  }
  return null;
}

function csvField(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** Every cell as CSV: one row per cell, a column per verdict count. */
export function cellsCsv(json: SweepJson): string {
  const head = [
    'policy',
    'x_knob',
    'x',
    'y_knob',
    'y',
    'verdict',
    'split',
    ...VERDICTS,
    'recoverySeconds',
    'tossed',
    'heldBackPages',
  ];
  const rows = json.cells.map((c) => [
    c.policy,
    json.x.knob,
    showValue(c.x),
    json.y?.knob ?? '',
    json.y ? showValue(c.y) : '',
    c.verdict,
    String(isSplit(c)),
    ...VERDICTS.map((v) => String(c.verdicts[v] ?? 0)),
    c.recoverySeconds === null ? '' : String(c.recoverySeconds),
    String(c.tossed),
    String(c.heldBackPages),
  ]);
  return `${[head, ...rows].map((r) => r.map(csvField).join(',')).join('\n')}\n`;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 18px 0 6px; }
.heatmaps { overflow-x: auto; }
.sweep-heatmap .cell { cursor: default; }
.sweep-heatmap .cell:hover rect:first-of-type { stroke: #000; stroke-width: 2; }
#tip { position: fixed; pointer-events: none; background: rgba(255,255,255,0.97); border: 1px solid #999; border-radius: 4px; padding: 6px 8px; font-size: 12px; white-space: pre; box-shadow: 0 2px 6px rgba(0,0,0,0.2); display: none; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.v { color: #fff; font-weight: 600; }
.files { color: #555; font-size: 12px; }
`;

/** Shows each cell's figures in a box that follows the pointer (the SVG's <title> is the fallback). */
const PAGE_JS = `(function () {
  'use strict';
  var tip = document.getElementById('tip');
  var cells = document.querySelectorAll('.sweep-heatmap .cell[data-tip]');
  cells.forEach(function (g) {
    var t = g.querySelector('title');
    if (t) t.remove();
    g.addEventListener('mousemove', function (e) {
      tip.textContent = g.getAttribute('data-tip');
      tip.style.display = 'block';
      tip.style.left = e.clientX + 14 + 'px';
      tip.style.top = e.clientY + 14 + 'px';
    });
    g.addEventListener('mouseleave', function () {
      tip.style.display = 'none';
    });
  });
  var data = JSON.parse(document.getElementById('sweep-data').textContent);
  document.documentElement.dataset.cells = String(data.cells.length);
})();`;

/** The self-contained HTML page (no network): heatmaps, boundaries, every cell. */
export function sweepHtml(json: SweepJson, info: SweepReportInfo): string {
  const svg = heatmapSvg(json, info);
  const boundaries = json.boundaries ?? [];
  const btable =
    boundaries.length === 0
      ? ''
      : `<h2>Boundaries (--refine)</h2>
<table id="boundaries"><thead><tr><th>policy</th>${json.y ? `<th>${escapeHtml(json.y.knob)}</th>` : ''}<th>last ${escapeHtml(json.x.knob)} with</th><th>first with</th><th>precision</th><th>probes</th></tr></thead><tbody>
${boundaries
  .map(
    (b) =>
      `<tr><td>${escapeHtml(b.policy)}</td>${json.y ? `<td>${escapeHtml(showValue(b.y))}</td>` : ''}<td>${escapeHtml(showValue(b.from.x))}: ${b.from.verdict}</td><td>${escapeHtml(showValue(b.to.x))}: ${b.to.verdict}</td><td>${b.precision}</td><td>${b.probes.map((c) => `${escapeHtml(showValue(c.x))}: ${c.verdict}`).join(', ')}</td></tr>`,
  )
  .join('\n')}</tbody></table>`;
  const rows = json.cells
    .map(
      (c) =>
        `<tr><td>${escapeHtml(c.policy)}</td><td>${escapeHtml(showValue(c.x))}</td>${json.y ? `<td>${escapeHtml(showValue(c.y))}</td>` : ''}<td class="v" style="background:${VERDICT_COLORS[c.verdict]}">${c.verdict}${isSplit(c) ? ' (split)' : ''}</td><td>${escapeHtml(
          Object.entries(c.verdicts)
            .map(([v, n]) => `${v} ${n}`)
            .join(', '),
        )}</td><td>${c.recoverySeconds ?? '-'}</td><td>${c.tossed}</td><td>${c.heldBackPages}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`swapnet sweep: ${json.scenario} (${json.policies.join(', ')})`)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>swapnet sweep: ${escapeHtml(json.scenario)}</h1>
<p>${escapeHtml(json.policies.join(', '))} over ${escapeHtml(json.x.knob)}${json.y ? ` by ${escapeHtml(json.y.knob)}` : ''}; engine ${escapeHtml(json.engine)}, ${info.seeds} seed${info.seeds === 1 ? '' : 's'} per cell. A hatched cell is split: its seeds disagree, the boundary runs through it. Point at a cell for its figures.</p>
<div class="heatmaps">${svg}</div>
<div id="tip"></div>
${btable}
<h2>Cells</h2>
<table id="cells"><thead><tr><th>policy</th><th>${escapeHtml(json.x.knob)}</th>${json.y ? `<th>${escapeHtml(json.y.knob)}</th>` : ''}<th>verdict</th><th>seeds</th><th>recovery (s)</th><th>tossed</th><th>held back (pages)</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="files">The same cells: <a href="cells.csv">cells.csv</a>, <a href="cells.json">cells.json</a> (<code>swapnet sweep --json</code>); the picture: <a href="heatmap.svg">heatmap.svg</a>; every run: runs/.</p>
<script type="application/json" id="sweep-data">${jsonForScript(json)}</script>
<script>${PAGE_JS}</script>
</body>
</html>
`;
}
