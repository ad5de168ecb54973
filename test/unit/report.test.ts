// The report builders on made-up records (no process runs): what each chart carries,
// fault bands (an unhealed fault runs to the last sample), shared axes across runs, the
// policy x scenario matrix, escaping of anything a record holds, records without samples
// or with missing fields, the SVG picture, and `swapnet report` rebuilding both from a
// folder of records (and refusing a file that is not one, naming the file and field).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  chartsOf,
  faultBands,
  runView,
  sharedScale,
  type ChartSpec,
} from '../../orchestrator/report-charts.ts';
import { comparisonSvg, linearTicks } from '../../orchestrator/report-svg.ts';
import {
  compareReportHtml,
  escapeHtml,
  jsonForScript,
  matrixHtml,
  runReportHtml,
  type ReportAssets,
} from '../../orchestrator/report.ts';
import { parseRecord, readRecords, reportAssets } from '../../orchestrator/report-writer.ts';
import type { RunRecord } from '../../orchestrator/runner.ts';
import { ERROR_CODES } from '../../reserve/errors.ts';
import { runCli } from '../helpers/cli.ts';
import { fakeRecord } from '../helpers/run-record.ts';

/** Stand-ins for uPlot and the page script: the builders must inline them as given. */
const ASSETS: ReportAssets = {
  uplotJs: 'var uPlot = function () {}; /* UPLOT-JS */',
  uplotCss: '.uplot { display: block } /* UPLOT-CSS */',
  pageJs: '/* PAGE-JS */',
};

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'swapnet-report-test-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The JSON block of a report, parsed back. */
function pageData(html: string): {
  scale: ReturnType<typeof sharedScale>;
  runs: {
    name: string;
    bands: { from: number; to: number; label: string }[];
    charts: ChartSpec[];
  }[];
} {
  const m = /<script type="application\/json" id="swapnet-data">([^<]*)<\/script>/.exec(html);
  if (!m?.[1]) throw new Error('no data block in the report');
  return JSON.parse(m[1]);
}

function chart(record: RunRecord, id: string): ChartSpec {
  const c = chartsOf(record).find((x) => x.id === id);
  if (!c) throw new Error(`no chart ${id}`);
  return c;
}

function series(c: ChartSpec, label: string): (number | null)[] {
  const s = c.series.find((x) => x.label === label);
  if (!s)
    throw new Error(`no series ${label} in ${c.id}: ${c.series.map((x) => x.label).join(', ')}`);
  return [...s.values];
}

describe('charts of a run', () => {
  const rec = fakeRecord();

  it('draws memory by state, free memory, reserve, writeout, drops and tcp_mem from every sample', () => {
    const charts = chartsOf(rec);
    expect(charts.map((c) => c.id)).toEqual([
      'memory',
      'free',
      'reserve',
      'writeout',
      'drops',
      'tossed',
      'tcpmem',
    ]);
    for (const c of charts) {
      expect(c.x).toHaveLength(rec.timeline.length);
      for (const s of c.series) expect(s.values).toHaveLength(rec.timeline.length);
    }
    const at20 = rec.timeline.findIndex((p) => p.t === 20);
    expect(series(chart(rec, 'free'), 'free')[at20]).toBe(192);
    expect(series(chart(rec, 'free'), 'watermark min')[at20]).toBe(512);
    expect(series(chart(rec, 'reserve'), 'reserve used')[at20]).toBe(8);
    expect(series(chart(rec, 'reserve'), 'reserve size')[at20]).toBe(512);
    expect(series(chart(rec, 'writeout'), 'pending')[at20]).toBe(126);
    expect(series(chart(rec, 'tcpmem'), 'tcp_mem max')[at20]).toBe(6072);
    expect(series(chart(rec, 'drops'), 'pfmemalloc')[at20]).toBe(12_000);
    // Completed writeouts live on the right axis: tens of thousands against ~100 pending.
    expect(chart(rec, 'writeout').series.find((s) => s.label === 'completed (total)')?.axis).toBe(
      'right',
    );
  });

  it('memory by state is logarithmic: an empty state is a gap, never a zero', () => {
    const memory = chart(rec, 'memory');
    expect(memory.log).toBe(true);
    expect(series(memory, 'kernel').every((v) => v === null)).toBe(true);
    expect(series(memory, 'anon').every((v) => v === 64_000)).toBe(true);
    expect(memory.series.map((s) => s.label)).toEqual([
      'free',
      'anon',
      'file_clean',
      'file_dirty',
      'writeback',
      'skb',
      'kernel',
      'watermark min',
      'watermark low',
      'watermark high',
    ]);
  });

  it('drops: the four kernel reasons always, other reasons only when they counted something', () => {
    const labels = chart(rec, 'drops').series.map((s) => s.label);
    expect(labels).toEqual(['pfmemalloc', 'nomem', 'proto_mem', 'rcvbuf', 'duplicate']);
    expect(labels).not.toContain('out_of_order');
  });

  it("tossed: whose packets pfmemalloc dropped, the swap socket's (C's replies) against the service's (B's data)", () => {
    const at20 = rec.timeline.findIndex((p) => p.t === 20);
    const vanilla = chart(rec, 'tossed');
    expect(vanilla.series.map((s) => s.label)).toEqual([
      "swap socket (C's replies)",
      "service (B's data)",
    ]);
    expect(series(vanilla, "swap socket (C's replies)")[at20]).toBe(12_000);
    expect(series(vanilla, "service (B's data)")[at20]).toBe(0);
    const memalloc = chart(fakeRecord({ recovers: true }), 'tossed');
    expect(series(memalloc, "swap socket (C's replies)")[at20]).toBe(0);
    expect(series(memalloc, "service (B's data)")[at20]).toBe(12_000);
    // A record of an older version has no counts by class: gaps, not zeros.
    const old = {
      ...rec,
      timeline: rec.timeline.map(({ tossedByClass: _, ...p }) => p),
    } as RunRecord;
    expect(series(chart(old, 'tossed'), "service (B's data)").every((v) => v === null)).toBe(true);
  });

  it('a field missing from a sample is a gap, not a made-up zero', () => {
    const base = fakeRecord({ seconds: 2 });
    const timeline = base.timeline.map((p, i) =>
      i === 3 ? { ...p, pages: { anon: 1 }, tcpMem: undefined as unknown as number } : p,
    );
    const r = { ...base, timeline };
    expect(series(chart(r, 'free'), 'free')[3]).toBeNull();
    expect(series(chart(r, 'tcpmem'), 'allocated')[3]).toBeNull();
    expect(series(chart(r, 'free'), 'free')[5]).toBe(600);
  });

  it('free memory is capped at four times the high watermark (all of RAM is free before the hog)', () => {
    const free = chart(rec, 'free');
    expect(free.leftCap).toBe(4 * 768);
    expect(sharedScale([runView('r', rec)]).y.free.left).toBe(4 * 768);
  });
});

describe('fault bands', () => {
  it('one band per fault period, labelled with target and mode', () => {
    expect(faultBands([{ target: 'c', mode: 'stall', from: 12, to: 22 }], 40)).toEqual([
      { from: 12, to: 22, label: 'c stall' },
    ]);
  });

  it('a fault never healed runs to the last sample', () => {
    const rec = fakeRecord({ faults: [{ target: 'c', mode: 'blackhole', from: 12, to: null }] });
    expect(runView('x', rec).bands).toEqual([{ from: 12, to: 40, label: 'c blackhole' }]);
  });

  it('reach the page: every run carries its bands in the data block, and names them in words', () => {
    const html = runReportHtml({ name: 'partition-c-vanilla', record: fakeRecord() }, ASSETS);
    expect(pageData(html).runs[0]?.bands).toEqual([{ from: 12, to: 22, label: 'c stall' }]);
    expect(html).toContain('fault: c stall 12-22 s');
  });
});

describe('the run report', () => {
  const rec = fakeRecord();
  const html = runReportHtml({ name: 'partition-c-vanilla', record: rec }, ASSETS);

  it('is one self-contained file: uPlot and the page script inlined, nothing fetched', () => {
    expect(html).toContain('UPLOT-JS');
    expect(html).toContain('UPLOT-CSS');
    expect(html).toContain('PAGE-JS');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('puts the verdict and its reason on top, then the result, knobs and events', () => {
    const h1 = /<h1>(.*?)<\/h1>/s.exec(html)?.[1] ?? '';
    expect(h1).toContain('partition-c under vanilla');
    expect(h1).toContain('data-verdict="deadlock"');
    expect(html.indexOf('126 writeouts pending')).toBeLessThan(html.indexOf('<figure'));
    expect(html).toContain(escapeHtml(JSON.stringify(rec.result, null, 2)));
    expect(html).toContain('<code>flood.connections</code>');
    expect(html).toContain('heal c');
    expect(html).toContain('href="partition-c-vanilla.json"');
  });

  it("says whose packets were tossed: C's replies against B's data", () => {
    expect(html).toContain(
      `<tr><th>tossed</th><td>${(28 * 1500).toLocaleString('en-US')} of C's replies (swap socket), 0 of B's data (service)</td></tr>`,
    );
  });

  it('has a placeholder for every chart and the charts in its data', () => {
    const ids = [...html.matchAll(/<figure class="chart" id="run0-([a-z]+)"/g)].map((m) => m[1]);
    expect(ids).toEqual(['memory', 'free', 'reserve', 'writeout', 'drops', 'tossed', 'tcpmem']);
    expect(pageData(html).runs[0]?.charts.map((c) => c.id)).toEqual(ids);
  });
});

describe('escaping', () => {
  const hostile = '</script><script>alert(1)</script><!-- & "quotes" \u2028';
  const rec = fakeRecord({
    reason: hostile,
    knobs: { ...fakeRecord().knobs, 'mem.ramMiB': 256 },
  });
  const withEvent: RunRecord = { ...rec, events: [{ t: 1, what: hostile }] };
  const html = runReportHtml(
    { name: 'x', record: withEvent },
    {
      ...ASSETS,
      pageJs: 'const s = "</script>"; /* PAGE-JS */',
    },
  );

  it('text from a record never opens or closes an element', () => {
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain(escapeHtml(hostile));
    // Exactly the report's own three scripts close.
    expect(html.match(/<\/script>/g)).toHaveLength(3);
  });

  it('JSON in a script block reads back exactly', () => {
    const text = jsonForScript({ s: hostile });
    expect(text).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(text)).toEqual({ s: hostile });
  });

  it('inlined code cannot end its own script element early', () => {
    expect(html).toContain('const s = "<\\/script>"; /* PAGE-JS */');
  });
});

describe('a record without samples', () => {
  const empty: RunRecord = { ...fakeRecord(), timeline: [] };

  it('says so instead of drawing, and keeps its charts empty', () => {
    const html = runReportHtml({ name: 'empty', record: empty }, ASSETS);
    expect(html).toContain('Machine A sent no samples');
    const data = pageData(html);
    for (const c of data.runs[0]?.charts ?? []) expect(c.x).toEqual([]);
    // The fault band still has a place on the x axis.
    expect(data.scale.xMax).toBe(22);
  });

  it('an open fault without samples is a band of no width at its start', () => {
    const rec: RunRecord = {
      ...empty,
      faults: [{ target: 'c', mode: 'stall', from: 5, to: null }],
    };
    expect(runView('e', rec).bands).toEqual([{ from: 5, to: 5, label: 'c stall' }]);
  });
});

describe('the comparison report', () => {
  const runs = [
    { name: 'partition-c-vanilla', record: fakeRecord({ seconds: 40 }) },
    { name: 'partition-c-memalloc', record: fakeRecord({ recovers: true, seconds: 30 }) },
    {
      name: 'quiet-partition-vanilla',
      record: fakeRecord({ scenario: 'quiet-partition', recovers: true, policy: 'vanilla' }),
    },
  ];
  const html = compareReportHtml(runs, ASSETS);

  it('shows the runs side by side, each with its verdict', () => {
    const sections = [
      ...html.matchAll(/<section class="run" data-run="(\d)" data-verdict="([a-z-]+)"/g),
    ];
    expect(sections.map((m) => [m[1], m[2]])).toEqual([
      ['0', 'deadlock'],
      ['1', 'completed'],
      ['2', 'completed'],
    ]);
    expect(html).toContain('--columns: 3');
  });

  it('puts every run on the same axes: the longest run, the largest value of each chart', () => {
    const { scale } = pageData(html);
    expect(scale.xMax).toBe(40);
    // Recovering runs keep completing: their total is the largest on the right axis.
    expect(scale.y.writeout.right).toBe(40 * 4000);
    expect(scale.y.writeout.left).toBe(126);
    expect(scale.y.drops.left).toBe(28 * 1500);
  });

  it('opens with the policy x scenario matrix', () => {
    const matrix = /<table class="matrix".*?<\/table>/s.exec(html)?.[0] ?? '';
    expect(html.indexOf(matrix)).toBeLessThan(html.indexOf('<section'));
    const headers = [...matrix.matchAll(/<th>([^<]+)<\/th>/g)].map((m) => m[1]);
    expect(headers).toEqual([
      'scenario \\ policy',
      'vanilla',
      'memalloc',
      'partition-c',
      'quiet-partition',
    ]);
    // quiet-partition was not run under memalloc.
    expect(matrix).toContain('<td class="empty">not run</td>');
  });
});

describe('the matrix', () => {
  it('each cell: verdict, recovery, tossed and dropped packets, reserve peak, memory held back', () => {
    const rec = fakeRecord({ recovers: true, recoverySeconds: 0.28 });
    const html = matrixHtml([rec]);
    const cell = /<div class="cell"[^>]*>(.*?)<\/div><\/td>/s.exec(html)?.[1] ?? '';
    expect(cell).toContain('data-verdict="completed"');
    expect(cell).toContain('recovery 0.28 s');
    expect(cell).toContain(
      `tossed ${rec.result.rx.tossedPfmemalloc.toLocaleString('en-US')}, nomem 0, proto_mem 0`,
    );
    expect(cell).toContain('reserve peak 9/512');
    expect(cell).toMatch(/held back \d+(\.\d)? MiB/);
  });

  it('a record without its knobs still has a row (memory held back unknown)', () => {
    const rec = { ...fakeRecord(), knobs: {} as RunRecord['knobs'] };
    expect(matrixHtml([rec])).toContain('held back - MiB');
  });
});

describe('the SVG picture', () => {
  const views = [
    runView('partition-c-vanilla', fakeRecord()),
    runView('partition-c-memalloc', fakeRecord({ recovers: true })),
  ];
  const svg = comparisonSvg(views);

  it('a column per run with its verdict, a shaded band per fault on every chart', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<g class="run"/g)).toHaveLength(2);
    expect(svg).toContain('>deadlock</tspan>');
    expect(svg).toContain('>completed</tspan>');
    // Four charts by default, one band each, in two columns.
    expect(svg.match(/class="fault-band"/g)).toHaveLength(8);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws a line for every series with data and none for an empty one', () => {
    const one = comparisonSvg([views[0]!], { charts: ['memory'] });
    const drawn = chart(views[0]!.record, 'memory').series.filter((s) =>
      s.values.some((v) => v !== null),
    );
    expect(one.match(/<path d="M/g)).toHaveLength(drawn.length);
    expect(one).not.toContain('>kernel<');
  });

  it('escapes text from records', () => {
    const rec = fakeRecord({ reason: '<b>&</b>' });
    expect(comparisonSvg([runView('x', rec)])).toContain('&lt;b&gt;&amp;&lt;/b&gt;');
  });

  it('ticks: round steps from zero past the largest value', () => {
    expect(linearTicks(126 * 1.05)).toEqual([0, 50, 100]);
    expect(linearTicks(3072)).toEqual([0, 1000, 2000, 3000]);
    expect(linearTicks(0)).toEqual([0]);
  });
});

describe('records on disk', () => {
  it('the writer inlines the real uPlot build and the page script', () => {
    const assets = reportAssets();
    expect(assets.uplotJs).toMatch(/var uPlot\s*=/);
    expect(assets.uplotCss).toContain('.uplot');
    expect(assets.pageJs).toContain('window.__charts');
  });

  it('a file that is not a run record is refused, naming the file and the field', () => {
    const bad = JSON.stringify({
      ...fakeRecord(),
      result: { ...fakeRecord().result, verdict: 'fine' },
    });
    expect(() => parseRecord('x.json', bad)).toThrow(
      /x\.json: result\.verdict: not a swapnet run record/,
    );
    expect(() => parseRecord('y.json', '{')).toThrow(/y\.json: not valid JSON/);
  });

  it('readRecords orders by scenario, then policy as swapnet list does', () => {
    const dir = tempDir();
    const write = (name: string, rec: RunRecord): void =>
      writeFileSync(join(dir, `${name}.json`), JSON.stringify(rec));
    write('partition-c-memalloc', fakeRecord({ recovers: true }));
    write('partition-c-vanilla', fakeRecord());
    write('a-vanilla', fakeRecord({ scenario: 'a' }));
    expect(readRecords(dir).map((r) => r.name)).toEqual([
      'a-vanilla',
      'partition-c-vanilla',
      'partition-c-memalloc',
    ]);
  });
});

describe('swapnet report', () => {
  it('rebuilds index.html and draws the picture from the records in a folder', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'partition-c-vanilla.json'), JSON.stringify(fakeRecord()));
    writeFileSync(
      join(dir, 'partition-c-memalloc.json'),
      JSON.stringify(fakeRecord({ recovers: true })),
    );
    const svgPath = join(dir, 'pictures', 'demo.svg');
    const r = await runCli(['report', dir, '--svg', svgPath, '--charts', 'free,writeout']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`report: ${join(dir, 'index.html')}\npicture: ${svgPath}\n`);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(pageData(html).runs.map((x) => x.name)).toEqual([
      'partition-c-vanilla',
      'partition-c-memalloc',
    ]);
    const svg = readFileSync(svgPath, 'utf8');
    expect(svg).toContain('Free memory against the watermarks');
    expect(svg).not.toContain('Memory by state');
  });

  it.each([
    [[], /expected one folder of run records, got none/],
    [['a', 'b'], /expected one folder of run records, got "a" "b"/],
    [['.', '--charts', 'pie'], /--charts: "pie" is not a chart/],
  ])('bad usage %j exits 2 naming it', async (argv, message) => {
    const r = await runCli(['report', ...argv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('a folder without records, or with a bad one, exits 2 naming the folder or file', async () => {
    const dir = tempDir();
    const none = await runCli(['report', dir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`${dir}: no run records`);
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ result: {} }));
    const bad = await runCli(['report', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${join(dir, 'broken.json')}: result.scenario`);
    expect(bad.stderr).toContain(ERROR_CODES.configInvalid);
  });
});
