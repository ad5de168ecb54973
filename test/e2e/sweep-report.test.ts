// A sweep's report in a real browser: a sweep on the fake engine (test/helpers/
// fake-sweep-runner.ts, in worker threads) through `swapnet sweep --report`, its HTML
// opened from file:// in Debian's headless Chromium. The page must log no error, fetch
// nothing but itself, draw one cell per policy and point with its verdict's colour, mark
// the split cells, show a cell's figures on hover, and the SVG must open on its own.
// Screenshots go to test-output/ (gitignored).
/// <reference lib="dom" />
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SweepJson } from '../../orchestrator/sweep/cells.ts';
import { VERDICT_COLORS } from '../../orchestrator/sweep/report.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { runCli } from '../helpers/cli.ts';

const OUTPUT = join(import.meta.dirname, '..', '..', 'test-output');
const WORK = mkdtempSync(join(tmpdir(), 'swapnet-e2e-sweep-'));
const FAKE = new URL('../helpers/fake-sweep-runner.ts', import.meta.url).href;
let browser: Browser;
let json: SweepJson;

beforeAll(async () => {
  mkdirSync(OUTPUT, { recursive: true });
  browser = await launchChromium();
  // 3 policies x 8 x 5 points x 3 seeds: the fake's threshold (connections x seconds of
  // partition near 256, +-12% by seed) crosses the map, so some cells split.
  const r = await runCli(
    [
      'sweep',
      '--scenario',
      'partition-c',
      '--policies',
      'vanilla,min-free-20,memalloc',
      '--x',
      'flood.connections=4..128:8:log',
      '--y',
      'fault.durationSeconds=2..16:5',
      '--seeds',
      '3',
      '--json',
      '--report',
      WORK,
    ],
    {},
    { sweepRunner: FAKE },
  );
  expect(r.code, r.stderr).toBe(0);
  json = JSON.parse(r.stdout) as SweepJson;
});

afterAll(async () => {
  await browser?.close();
  rmSync(WORK, { recursive: true, force: true });
});

async function open(file: string) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  const url = pathToFileURL(join(WORK, file)).href;
  await page.goto(url);
  return { page, errors, requests, url };
}

describe('the sweep report in Chromium', () => {
  it('draws every cell in its verdict colour, marks the split ones, with no error and no request', async () => {
    const { page, errors, requests, url } = await open('index.html');
    await page.waitForFunction(() => document.documentElement.dataset.cells !== undefined);
    const cells = await page.$$eval('svg.sweep-heatmap g.cell', (gs) =>
      gs.map((g) => ({
        policy: g.getAttribute('data-policy'),
        verdict: g.getAttribute('data-verdict'),
        split: g.getAttribute('data-split') === 'true',
        fill: g.querySelector('rect')?.getAttribute('fill'),
        mark: g.querySelector('.split-mark') !== null,
        box: (g.querySelector('rect') as SVGRectElement).getBoundingClientRect().width,
      })),
    );
    expect(cells).toHaveLength(3 * 8 * 5);
    expect(json.cells).toHaveLength(3 * 8 * 5);
    for (const c of cells) {
      expect(c.fill).toBe(VERDICT_COLORS[c.verdict as keyof typeof VERDICT_COLORS]);
      expect(c.mark).toBe(c.split);
      expect(c.box).toBeGreaterThan(10);
    }
    expect(cells.filter((c) => c.split).length).toBeGreaterThan(0);
    expect(new Set(cells.map((c) => c.verdict))).toEqual(new Set(['completed', 'deadlock']));
    // Same axes side by side: each policy's panel holds the same points.
    for (const p of ['vanilla', 'min-free-20', 'memalloc'])
      expect(cells.filter((c) => c.policy === p)).toHaveLength(40);
    expect(await page.locator('#cells tbody tr').count()).toBe(120);
    await page.screenshot({ path: join(OUTPUT, 'sweep-report.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);
    await page.close();
  });

  it("shows a cell's figures on hover", async () => {
    const { page, errors } = await open('index.html');
    const cell = page.locator('g.cell[data-split="true"]').first();
    const policy = await cell.getAttribute('data-policy');
    await cell.hover();
    const tip = page.locator('#tip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const text = await tip.textContent();
    expect(text).toContain(`${policy}:`);
    expect(text).toMatch(/split: a boundary/);
    expect(text).toMatch(/seeds: completed \d, deadlock \d/);
    expect(text).toMatch(/flood.connections = \d+, fault.durationSeconds = [\d.]+/);
    expect(text).toMatch(/tossed \(pfmemalloc\): \d+/);
    expect(text).toMatch(/held back: \d+ pages/);
    await page.screenshot({ path: join(OUTPUT, 'sweep-report-hover.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the SVG opens on its own, the same cells, with no error', async () => {
    expect(readFileSync(join(WORK, 'heatmap.svg'), 'utf8')).not.toMatch(/<script/);
    const { page, errors, requests, url } = await open('heatmap.svg');
    expect(await page.locator('g.cell').count()).toBe(120);
    expect(await page.locator('g.cell title').count()).toBe(120);
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);
    await page.close();
  });
});
