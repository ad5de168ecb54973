// The HTML report of one run or of a comparison: a single self-contained file (uPlot's
// script and styles inlined, the data in a JSON block, no network) with the verdict on
// top, then per run the charts of report-charts.ts with fault periods shaded, the JSON
// result, the knobs and the events; a comparison puts the runs side by side on the same
// axis ranges and opens with the policy x scenario matrix. Pure: records and assets in,
// an HTML string out (report-writer.ts does the files).
import { reservedMiB } from './policies.ts';
import { runView, sharedScale, type ChartScale, type RunView } from './report-charts.ts';
import type { RunRecord } from './runner.ts';

/** The page's code and styles, read by the writer and inlined into every report. */
export interface ReportAssets {
  /** uPlot's IIFE build (defines the global `uPlot`). */
  readonly uplotJs: string;
  readonly uplotCss: string;
  /** report-page.js: draws the charts from the embedded data. */
  readonly pageJs: string;
}

export interface NamedRecord {
  /** File-name stem of the record (`<scenario>-<policy>`): the JSON written beside the report. */
  readonly name: string;
  readonly record: RunRecord;
}

/** Text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * JSON that is safe inside a <script> element: `<`, `>` and `&` become \u escapes, so
 * no `</script>` (nor `<!--`) can end or confuse the element; JSON.parse reads it back.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/** Inlined code or styles must not close their own element early. */
function inlineSafe(text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1');
}

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

function verdictBadge(verdict: string): string {
  return `<span class="verdict verdict-${escapeHtml(verdict)}" data-verdict="${escapeHtml(verdict)}">${escapeHtml(verdict)}</span>`;
}

function runTitle(r: RunRecord['result']): string {
  return `${escapeHtml(r.scenario)} under ${escapeHtml(r.policy)}`;
}

function keyFacts(rec: RunRecord): string {
  const r = rec.result;
  const rows: [string, string][] = [
    [
      'writeout',
      `${fmt(r.writeout?.issued)} issued, ${fmt(r.writeout?.completed)} completed, ${fmt(r.writeout?.pendingAtEnd)} pending at the end`,
    ],
    [
      'recovery',
      r.recoverySeconds === null ? '-' : `${fmt(r.recoverySeconds, 2)} s after the heal`,
    ],
    [
      'receive',
      `${fmt(r.rx?.delivered)} delivered, ${fmt(r.rx?.tossedPfmemalloc)} tossed (pfmemalloc), ${fmt(r.rx?.droppedNoMem)} dropped (nomem), ${fmt(r.rx?.droppedProtoMem)} dropped (proto_mem)`,
    ],
    ['reserve', `${fmt(r.reserve?.peakUsedPages)} of ${fmt(r.reserve?.sizePages)} pages at peak`],
    [
      'integrity',
      `${fmt(r.integrity?.pagesVerified)} pages read back and verified, ${fmt(r.integrity?.mismatches)} mismatches; ${fmt(r.oomKills)} OOM kills`,
    ],
    [
      'run',
      `engine ${escapeHtml(r.engine)}, era ${escapeHtml(r.era)}, seed ${fmt(r.seed)}, ${fmt(r.durationSeconds, 1)} s`,
    ],
  ];
  return `<table class="facts">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function knobsTable(knobs: RunRecord['knobs']): string {
  const rows = Object.entries(knobs ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([k, v]) =>
        `<tr><th><code>${escapeHtml(k)}</code></th><td><code>${escapeHtml(JSON.stringify(v) ?? 'undefined')}</code></td></tr>`,
    );
  return `<table class="knobs">${rows.join('')}</table>`;
}

function eventsList(rec: RunRecord): string {
  const items = (rec.events ?? []).map(
    (e) => `<li><span class="t">${fmt(e.t, 1)} s</span> ${escapeHtml(e.what)}</li>`,
  );
  return items.length > 0 ? `<ul class="events">${items.join('')}</ul>` : '<p>No events.</p>';
}

function runColumn(view: RunView, index: number, withTitle = true): string {
  const rec = view.record;
  const r = rec.result;
  const charts = view.charts
    .map(
      (c) =>
        `<figure class="chart" id="run${index}-${c.id}" data-chart="${c.id}" data-run="${index}"><figcaption>${escapeHtml(c.title)}</figcaption></figure>`,
    )
    .join('\n');
  const bands = view.bands
    .map((b) => `${escapeHtml(b.label)} ${fmt(b.from, 1)}-${fmt(b.to, 1)} s`)
    .join(', ');
  return `<section class="run" data-run="${index}" data-verdict="${escapeHtml(r.verdict)}">
${withTitle ? `<h2>${runTitle(r)} ${verdictBadge(r.verdict)}</h2>` : ''}
<p class="reason">${escapeHtml(rec.reason ?? '')}</p>
${keyFacts(rec)}
<p class="legend-note">${view.bands.length > 0 ? `<span class="band-swatch"></span> fault: ${bands}` : 'No fault in this run.'}${view.record.timeline.length === 0 ? ' <strong class="no-samples">Machine A sent no samples: nothing to draw.</strong>' : ''}</p>
${charts}
<details><summary>JSON result (<code>swapnet run --json</code>)</summary><pre class="result-json">${escapeHtml(JSON.stringify(r, null, 2))}</pre></details>
<details><summary>Knobs</summary>${knobsTable(rec.knobs)}</details>
<details open><summary>Events</summary>${eventsList(rec)}</details>
<p class="files">Record (result, timeline sampled every 250 ms, events, fault periods, knobs): <a href="${escapeHtml(encodeURIComponent(view.name))}.json">${escapeHtml(view.name)}.json</a></p>
</section>`;
}

/** What the watermarks hold back (the cost of min-free-20); null when the knobs are incomplete. */
function heldBackMiB(knobs: RunRecord['knobs'] | undefined): number | null {
  if (typeof knobs?.['mem.ramMiB'] !== 'number') return null;
  try {
    return reservedMiB(knobs);
  } catch {
    return null;
  }
}

/** The policy x scenario matrix: one row per scenario, one column per policy. */
export function matrixHtml(records: readonly RunRecord[]): string {
  const scenarios = [...new Set(records.map((r) => r.result.scenario))];
  const policies = [...new Set(records.map((r) => r.result.policy))];
  const cell = (scenario: string, policy: string): string => {
    const hits = records.filter(
      (r) => r.result.scenario === scenario && r.result.policy === policy,
    );
    if (hits.length === 0) return '<td class="empty">not run</td>';
    return `<td>${hits
      .map((rec) => {
        const r = rec.result;
        return `<div class="cell" data-scenario="${escapeHtml(scenario)}" data-policy="${escapeHtml(policy)}">${verdictBadge(r.verdict)}${hits.length > 1 ? ` <small>era ${escapeHtml(r.era)}</small>` : ''}
<div>recovery ${r.recoverySeconds === null ? '-' : `${fmt(r.recoverySeconds, 2)} s`}</div>
<div>tossed ${fmt(r.rx?.tossedPfmemalloc)}, nomem ${fmt(r.rx?.droppedNoMem)}, proto_mem ${fmt(r.rx?.droppedProtoMem)}</div>
<div>reserve peak ${fmt(r.reserve?.peakUsedPages)}/${fmt(r.reserve?.sizePages)}</div>
<div>held back ${fmt(heldBackMiB(rec.knobs), 1)} MiB</div></div>`;
      })
      .join('')}</td>`;
  };
  return `<table class="matrix" id="matrix">
<thead><tr><th>scenario \\ policy</th>${policies.map((p) => `<th>${escapeHtml(p)}</th>`).join('')}</tr></thead>
<tbody>${scenarios.map((s) => `<tr><th>${escapeHtml(s)}</th>${policies.map((p) => cell(s, p)).join('')}</tr>`).join('\n')}</tbody>
</table>`;
}

/** What the page script reads from the JSON block. */
interface PageData {
  readonly scale: ChartScale;
  readonly runs: readonly {
    readonly name: string;
    readonly bands: RunView['bands'];
    readonly charts: RunView['charts'];
  }[];
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 8px 0 4px; }
.summary { display: flex; flex-wrap: wrap; gap: 8px 24px; margin-bottom: 12px; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 4px; color: #fff; font-weight: 600; background: #555; }
.verdict-completed { background: #2e7d32; }
.verdict-deadlock, .verdict-data-loss { background: #c62828; }
.verdict-livelock, .verdict-oom { background: #ef6c00; }
.runs { display: grid; grid-template-columns: repeat(var(--columns), minmax(440px, 1fr)); gap: 24px; overflow-x: auto; }
.run { min-width: 0; }
.reason { margin: 0 0 6px; font-weight: 500; }
table { border-collapse: collapse; }
.facts th, .knobs th { text-align: left; padding: 1px 10px 1px 0; font-weight: 500; color: #555; vertical-align: top; }
.matrix { margin: 8px 0 20px; }
.matrix th, .matrix td { border: 1px solid #ccc; padding: 6px 10px; vertical-align: top; text-align: left; }
.matrix .cell div { font-size: 12px; color: #444; }
.chart { margin: 12px 0 0; }
.chart figcaption { font-weight: 600; margin-bottom: 2px; }
.band-swatch { display: inline-block; width: 14px; height: 10px; background: rgba(204, 41, 54, 0.14); border: 1px solid rgba(204, 41, 54, 0.5); }
.fault-band { position: absolute; top: 0; height: 100%; background: transparent; border-left: 1px dashed rgba(204, 41, 54, 0.6); border-right: 1px dashed rgba(204, 41, 54, 0.6); pointer-events: none; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
.events { padding-left: 18px; margin: 4px 0; } .events .t { color: #777; display: inline-block; min-width: 4em; }
.files { color: #555; font-size: 12px; }
`;

function page(
  title: string,
  heading: string,
  body: string,
  data: PageData,
  assets: ReportAssets,
): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${inlineSafe(assets.uplotCss, 'style')}</style>
<style>${STYLE}</style>
</head>
<body>
${heading}
${body}
<script type="application/json" id="swapnet-data">${jsonForScript(data)}</script>
<script>${inlineSafe(assets.uplotJs, 'script')}</script>
<script>${inlineSafe(assets.pageJs, 'script')}</script>
</body>
</html>
`;
}

function pageData(views: readonly RunView[]): PageData {
  return {
    scale: sharedScale(views),
    runs: views.map((v) => ({ name: v.name, bands: v.bands, charts: v.charts })),
  };
}

/** The report of one run: the verdict on top, then its charts and details. */
export function runReportHtml(run: NamedRecord, assets: ReportAssets): string {
  const view = runView(run.name, run.record);
  const r = run.record.result;
  const heading = `<h1>swapnet: ${runTitle(r)} ${verdictBadge(r.verdict)}</h1>`;
  const body = `<div class="runs" style="--columns: 1">${runColumn(view, 0, false)}</div>`;
  return page(
    `swapnet ${r.scenario} under ${r.policy}: ${r.verdict}`,
    heading,
    body,
    pageData([view]),
    assets,
  );
}

/** The report of a comparison: the matrix, then the runs side by side on shared axes. */
export function compareReportHtml(runs: readonly NamedRecord[], assets: ReportAssets): string {
  const views = runs.map((r) => runView(r.name, r.record));
  const summary = runs
    .map(
      (r) => `<span>${runTitle(r.record.result)} ${verdictBadge(r.record.result.verdict)}</span>`,
    )
    .join('');
  const heading = `<h1>swapnet: ${runs.length} run${runs.length === 1 ? '' : 's'} compared</h1>
<div class="summary">${summary}</div>`;
  const body = `${matrixHtml(runs.map((r) => r.record))}
<div class="runs" style="--columns: ${Math.max(1, views.length)}">${views.map((v, i) => runColumn(v, i)).join('\n')}</div>`;
  return page(
    `swapnet compare: ${runs.map((r) => `${r.record.result.policy} ${r.record.result.verdict}`).join(', ')}`,
    heading,
    body,
    pageData(views),
    assets,
  );
}
