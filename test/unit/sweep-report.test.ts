// What a sweep prints and draws, from a made-up sweep: the text grids (split cells as
// their counts), the progress line, the CSV of every cell, and the SVG heatmap (one
// cell element per policy and point in its verdict's colour, split cells marked,
// anything from the input escaped). Pure: no run, no browser.
import { describe, expect, it } from 'vitest';
import type { SweepCell, SweepJson } from '../../orchestrator/sweep/cells.ts';
import {
  cellsCsv,
  heatmapSvg,
  sweepHtml,
  VERDICT_COLORS,
} from '../../orchestrator/sweep/report.ts';
import { progressText, sweepText } from '../../orchestrator/sweep/text.ts';

const cell = (
  policy: string,
  x: number,
  y: number,
  verdicts: SweepCell['verdicts'],
): SweepCell => ({
  policy,
  x,
  y,
  verdicts,
  verdict: (verdicts.completed ?? 0) >= (verdicts.deadlock ?? 0) ? 'completed' : 'deadlock',
  recoverySeconds: verdicts.completed ? 0.25 : null,
  tossed: 100,
  heldBackPages: 768,
});

const JSON_: SweepJson = {
  scenario: 'partition-c',
  engine: 'sim',
  policies: ['vanilla', 'memalloc'],
  x: { knob: 'flood.connections', values: [0, 8] },
  y: { knob: 'fault.durationSeconds', values: [2, 8] },
  cells: [
    cell('vanilla', 0, 2, { completed: 3 }),
    cell('vanilla', 8, 2, { completed: 1, deadlock: 2 }),
    cell('vanilla', 0, 8, { completed: 3 }),
    cell('vanilla', 8, 8, { deadlock: 3 }),
    cell('memalloc', 0, 2, { completed: 3 }),
    cell('memalloc', 8, 2, { completed: 3 }),
    cell('memalloc', 0, 8, { completed: 3 }),
    // memalloc 8 x 8 s not run (an interrupted sweep)
  ],
};

describe('sweep text', () => {
  it('prints a grid per policy, y down and x across, a split cell as its counts, "-" where not run', () => {
    const text = sweepText(JSON_);
    expect(text).toContain('vanilla:\nfault.durationSeconds \\ flood.connections  0          8');
    expect(text).toMatch(/^2 +completed +split c1\/d2$/m);
    expect(text).toMatch(/^8 +completed +DEADLOCK$/m);
    expect(text).toMatch(/^8 +completed +-$/m);
    expect(text).toMatch(/7 cells, 1 split/);
  });

  it('draws the progress bar: runs done of all, elapsed, ETA from the pace so far', () => {
    expect(progressText(50, 200, 30, 'vanilla ...')).toBe(
      '[#####...............] 50/200 runs (25%)  0:30 elapsed  ETA 1:30  vanilla ...',
    );
    expect(progressText(0, 10, 0, '')).toContain('ETA ?');
  });
});

describe('sweep CSV', () => {
  it('has a row per cell with a column per verdict count', () => {
    const rows = cellsCsv(JSON_).trim().split('\n');
    expect(rows).toHaveLength(8);
    expect(rows[2]).toBe(
      'vanilla,flood.connections,8,fault.durationSeconds,2,deadlock,true,1,2,0,0,0,0.25,100,768',
    );
  });

  it('quotes a value with commas (a tuple knob)', () => {
    const j: SweepJson = {
      ...JSON_,
      x: { knob: 'net.tcpMem', values: [[1, 2, 3]] },
      y: null,
      cells: [{ ...cell('vanilla', 0, 0, { completed: 1 }), x: [1, 2, 3], y: null }],
    };
    expect(cellsCsv(j).split('\n')[1]).toMatch(/^vanilla,net.tcpMem,"\[1,2,3\]",,,completed/);
  });
});

describe('sweep heatmap', () => {
  const svg = heatmapSvg(JSON_, { seeds: 3, missingRuns: 3 });

  it('has one cell per policy and point, in its verdict colour, split cells marked, missing ones grey', () => {
    const cells = [...svg.matchAll(/<g class="cell[^"]*"[^>]*>/g)].map((m) => m[0]);
    expect(cells).toHaveLength(8);
    expect(svg.match(/class="split-mark"/g)).toHaveLength(1);
    expect(svg).toContain(`data-verdict="deadlock" data-split="true"`);
    expect(svg).toContain(`fill="${VERDICT_COLORS.deadlock}"`);
    expect(svg).toMatch(/<g class="cell missing" data-policy="memalloc" data-x="8" data-y="8">/);
    expect(svg).toContain('3 runs not finished (grey)');
  });

  it('puts every figure of a cell in its tooltip', () => {
    expect(svg).toContain(
      '<title>vanilla: deadlock (split: a boundary)\nflood.connections = 8, fault.durationSeconds = 2\nseeds: completed 1, deadlock 2\nrecovery: 0.25 s after the heal\ntossed (pfmemalloc): 100\nheld back: 768 pages (3.0 MiB)</title>',
    );
  });

  it('escapes what comes from the input', () => {
    const evil = heatmapSvg(
      { ...JSON_, scenario: '<script>x</script>', policies: ['a"b'], cells: [] },
      { seeds: 1, missingRuns: 0 },
    );
    expect(evil).not.toContain('<script>');
    expect(evil).toContain('data-policy="a&quot;b"');
    const page = sweepHtml({ ...JSON_, scenario: '</script><b>' }, { seeds: 1, missingRuns: 0 });
    expect(page).not.toContain('</script><b>');
    expect(page).not.toMatch(/<script[^>]+src=|<link /);
  });
});
