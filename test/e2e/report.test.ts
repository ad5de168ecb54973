// Real reports in a real browser: a short partition scenario (C stalls 4 s under B's
// flood; ~13 s a run) through `swapnet run --report` and `swapnet compare --report`,
// each HTML opened from file:// in Debian's headless Chromium (playwright-core). The page
// must log no error, fetch nothing but itself, draw data on every chart (hiding a chart's
// series changes its pixels), shade the fault on every chart where the record says it
// was, and put the verdict on top. Screenshots go to test-output/ (gitignored).
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../orchestrator/runner.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { killAllCli, killNodesOf, runCliProcess } from '../helpers/cli-process.ts';

const OUTPUT = join(import.meta.dirname, '..', '..', 'test-output');
const WORK = mkdtempSync(join(tmpdir(), 'swapnet-e2e-report-'));
const STATE_DIR = join(WORK, 'state');
const ENV = { ...process.env, SWAPNET_STATE_DIR: STATE_DIR };

/** partition-c's load, shortened: fault at 5 s, heal at 9 s, end at 13 s. */
const SCENARIO = {
  name: 'short-partition',
  description: 'partition-c shortened for the report test: C stalls 4 s under B flood',
  knobs: {
    'hog.tasks': 2,
    'service.workingSetMiB': 32,
    'service.hotSetMiB': 4,
    'service.coldTouchRatio': 0.05,
    'flood.connections': 64,
    'flood.rate': 2000,
  },
  timeline: [
    { at: 0, do: 'start', workload: 'hog' },
    { at: 2, do: 'start', workload: 'flood' },
    { at: 5, do: 'fault', target: 'c', mode: 'stall' },
    { at: 9, do: 'heal', target: 'c' },
    { at: 13, do: 'end' },
  ],
  stallWindowSeconds: 3,
};
const SCENARIO_FILE = join(WORK, 'short-partition.json');

let browser: Browser;

beforeAll(async () => {
  mkdirSync(STATE_DIR);
  mkdirSync(OUTPUT, { recursive: true });
  writeFileSync(SCENARIO_FILE, JSON.stringify(SCENARIO));
  browser = await launchChromium();
});

afterEach(async () => {
  await killAllCli();
  killNodesOf(STATE_DIR);
});

afterAll(async () => {
  await browser?.close();
  rmSync(WORK, { recursive: true, force: true });
});

interface ChartCheck {
  run: number;
  id: string;
  seriesWithData: number;
  series: number;
  points: number;
  /** Canvas pixels that differ between every series shown and every series hidden. */
  pixelsDrawn: number;
  xMin: number;
  xMax: number;
}

/**
 * Opens a report from file://, collecting console errors, page errors and every request,
 * and waits until its script has drawn (the page sets data-charts on <html>). Warnings
 * are those the page logged while loading and drawing (the pixel checks below make
 * Chromium warn about repeated canvas reads: those are the test's, not the page's).
 */
async function openReport(path: string, width: number) {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  const logged: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`error: ${m.text()}`);
    if (m.type() === 'warning') logged.push(`warning: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('request', (r) => requests.push(r.url()));
  const url = pathToFileURL(path).href;
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined);
  return { page, errors, requests, url, warnings: [...logged] };
}

/** Per chart: its data, and whether hiding its series changes the canvas (data drawn). */
function checkCharts(page: Page): Promise<ChartCheck[]> {
  return page.evaluate(async () => {
    interface Plot {
      data: (number | null)[][];
      series: { show: boolean }[];
      ctx: CanvasRenderingContext2D;
      hooks: Record<string, ((u: Plot) => void)[] | undefined>;
      scales: { x: { min: number; max: number } };
      setSeries(i: number, opts: { show: boolean }): void;
      batch(fn: () => void): void;
    }
    const charts = (window as unknown as { __charts: { run: number; id: string; plot: Plot }[] })
      .__charts;
    /** Applies `show` to every series and resolves once uPlot has drawn the result. */
    const showAll = (u: Plot, show: boolean): Promise<void> =>
      new Promise((resolve) => {
        const hooks = (u.hooks.draw ??= []);
        const done = (): void => {
          hooks.splice(hooks.indexOf(done), 1);
          resolve();
        };
        hooks.push(done);
        u.batch(() => {
          for (let i = 1; i < u.series.length; i++) u.setSeries(i, { show });
        });
      });
    const pixels = (u: Plot): Uint8ClampedArray =>
      u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
    const out = [];
    for (const c of charts) {
      const u = c.plot;
      await showAll(u, false);
      const without = pixels(u);
      await showAll(u, true);
      const withSeries = pixels(u);
      let differ = 0;
      for (let i = 0; i < withSeries.length; i += 4)
        if (
          withSeries[i] !== without[i] ||
          withSeries[i + 1] !== without[i + 1] ||
          withSeries[i + 2] !== without[i + 2] ||
          withSeries[i + 3] !== without[i + 3]
        )
          differ++;
      out.push({
        run: c.run,
        id: c.id,
        series: u.series.length - 1,
        seriesWithData: u.data.slice(1).filter((d) => d.some((v) => v !== null)).length,
        points: u.data[0]?.length ?? 0,
        pixelsDrawn: differ,
        xMin: u.scales.x.min,
        xMax: u.scales.x.max,
      });
    }
    return out;
  });
}

interface BandCheck {
  run: number;
  chart: string;
  from: number;
  to: number;
  width: number;
  insidePlot: boolean;
}

/** Every .fault-band marker: its fault period and where it sits in its chart's plot. */
function checkBands(page: Page): Promise<BandCheck[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('.fault-band')].map((el) => {
      const figure = el.closest<HTMLElement>('figure.chart');
      const over = el.closest<HTMLElement>('.u-over');
      const b = el.getBoundingClientRect();
      const o = over?.getBoundingClientRect();
      return {
        run: Number(figure?.dataset.run),
        chart: figure?.dataset.chart ?? '',
        from: Number(el.dataset.from),
        to: Number(el.dataset.to),
        width: b.width,
        insidePlot:
          o !== undefined && b.left >= o.left - 0.5 && b.right <= o.right + 0.5 && b.height > 0,
      };
    }),
  );
}

function readRecord(path: string): RunRecord {
  return JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
}

describe('HTML reports in headless Chromium', () => {
  it('swapnet run --report: a self-contained report with every chart drawn and the fault shaded', async () => {
    const dir = join(WORK, 'run');
    const r = await runCliProcess(
      ['run', '--scenario', SCENARIO_FILE, '--policy', 'vanilla', '--report', dir],
      ENV,
      120_000,
    );
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const html = join(dir, 'short-partition-vanilla.html');
    expect(r.stderr).toContain(`report: ${html}`);
    expect(existsSync(html)).toBe(true);
    const record = readRecord(join(dir, 'short-partition-vanilla.json'));
    expect(record.timeline.length).toBeGreaterThan(20);
    const fault = record.faults[0];
    expect(fault).toMatchObject({ target: 'c', mode: 'stall' });

    const { page, errors, requests, url, warnings } = await openReport(html, 1280);
    try {
      const charts = await checkCharts(page);
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
        expect(c.points, c.id).toBe(record.timeline.length);
        expect(c.seriesWithData, c.id).toBeGreaterThan(0);
        expect(c.pixelsDrawn, `${c.id}: hiding its series changed no pixel`).toBeGreaterThan(50);
      }
      // The fault band: one per chart, where the record's fault period is.
      const bands = await checkBands(page);
      expect(bands.map((b) => b.chart)).toEqual(charts.map((c) => c.id));
      for (const b of bands) {
        expect(b.from).toBeCloseTo(fault?.from ?? NaN, 6);
        expect(b.to).toBeCloseTo(fault?.to ?? NaN, 6);
        expect(b.width, b.chart).toBeGreaterThan(10);
        expect(b.insidePlot, b.chart).toBe(true);
      }
      // The verdict on top, as the record has it.
      const verdict = await page.locator('h1 .verdict').getAttribute('data-verdict');
      expect(verdict).toBe(record.result.verdict);
      const shot = join(OUTPUT, 'report-run.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot of the run report: ${shot} (verdict ${verdict})`);
      expect(errors).toEqual([]);
      expect(warnings).toEqual([]);
      expect(requests).toEqual([url]);
    } finally {
      await page.close();
    }
  });

  it('swapnet compare --report: runs side by side on the same axes, and the matrix', async () => {
    const dir = join(WORK, 'compare');
    const r = await runCliProcess(
      ['compare', '--scenarios', SCENARIO_FILE, '--policies', 'vanilla,memalloc', '--report', dir],
      ENV,
      150_000,
    );
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const html = join(dir, 'index.html');
    expect(r.stderr).toContain(`report: ${html}`);
    const records = ['vanilla', 'memalloc'].map((p) =>
      readRecord(join(dir, `short-partition-${p}.json`)),
    );

    const { page, errors, requests, url, warnings } = await openReport(html, 1600);
    try {
      const charts = await checkCharts(page);
      expect(charts).toHaveLength(14);
      for (const c of charts) {
        expect(c.points, `run ${c.run} ${c.id}`).toBe(records[c.run]?.timeline.length);
        expect(c.pixelsDrawn, `run ${c.run} ${c.id}`).toBeGreaterThan(50);
      }
      // Same x range in both columns, so the runs compare.
      const ranges = new Set(charts.map((c) => `${c.xMin}-${c.xMax}`));
      expect(ranges.size).toBe(1);
      const bands = await checkBands(page);
      expect(bands).toHaveLength(14);
      expect(bands.every((b) => b.insidePlot && b.width > 10)).toBe(true);
      // The matrix: one scenario row, a cell per policy with that run's verdict.
      const cells = await page.locator('#matrix .cell').evaluateAll((els) =>
        els.map((el) => ({
          policy: (el as HTMLElement).dataset.policy,
          verdict: el.querySelector<HTMLElement>('.verdict')?.dataset.verdict,
        })),
      );
      expect(cells).toEqual(
        records.map((rec) => ({ policy: rec.result.policy, verdict: rec.result.verdict })),
      );
      const columns = await page
        .locator('section.run')
        .evaluateAll((els) => els.map((el) => Math.round(el.getBoundingClientRect().top)));
      expect(columns).toHaveLength(2);
      expect(columns[0]).toBe(columns[1]);
      const shot = join(OUTPUT, 'report-compare.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(
        `screenshot of the compare report: ${shot} (${records.map((x) => `${x.result.policy} ${x.result.verdict}`).join(', ')})`,
      );
      expect(errors).toEqual([]);
      expect(warnings).toEqual([]);
      expect(requests).toEqual([url]);
    } finally {
      await page.close();
    }
  });
});
