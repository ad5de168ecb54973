// The compare matrix as text (orchestrator/matrix.ts): the policy x scenario grid of
// verdicts and the per-run details, from made-up results.
import { describe, expect, it } from 'vitest';
import { detailTable, matrix, verdictGrid } from '../../orchestrator/matrix.ts';
import type { RunRecord, RunResult } from '../../orchestrator/runner.ts';
import { fakeRecord } from '../helpers/run-record.ts';

function result(scenario: string, policy: string, over: Partial<RunResult> = {}): RunResult {
  return {
    engine: 'real',
    scenario,
    policy,
    era: 'modern',
    seed: 1,
    verdict: 'completed',
    writeout: { issued: 10, completed: 10, pendingAtEnd: 0 },
    recoverySeconds: 0.3,
    rx: { delivered: 5, tossedPfmemalloc: 7, droppedNoMem: 8, droppedProtoMem: 9 },
    reserve: { sizePages: 512, peakUsedPages: 12 },
    integrity: { pagesVerified: 3, mismatches: 0 },
    oomKills: 0,
    durationSeconds: 30,
    ...over,
  };
}

const ROWS = [
  result('partition-c', 'vanilla', { verdict: 'deadlock', recoverySeconds: null }),
  result('partition-c', 'memalloc', { recoverySeconds: 0.31 }),
  result('quiet-partition', 'vanilla', { recoverySeconds: 0.2 }),
];

describe('verdictGrid', () => {
  it('puts policies down and scenarios across, with the recovery time, "-" where not run', () => {
    const lines = verdictGrid(ROWS).split('\n');
    expect(lines[0]?.split(/\s{2,}/)).toEqual([
      'policy \\ scenario',
      'partition-c',
      'quiet-partition',
    ]);
    expect(lines[1]).toMatch(/^-+\s+-+\s+-+$/);
    expect(lines[2]?.split(/\s{2,}/)).toEqual(['vanilla', 'deadlock', 'completed (0.2 s)']);
    expect(lines[3]?.split(/\s{2,}/)).toEqual(['memalloc', 'completed (0.31 s)', '-']);
    expect(lines).toHaveLength(4);
  });
});

describe('detailTable', () => {
  it('has one line per run with the packets, the reserve and "-" without a record', () => {
    const lines = detailTable(ROWS, []).split('\n');
    expect(lines).toHaveLength(2 + ROWS.length);
    expect(lines[2]?.split(/\s{2,}/)).toEqual([
      'partition-c',
      'vanilla',
      'deadlock',
      '-',
      '7',
      '8',
      '9',
      '12/512',
      '-',
      '-',
    ]);
  });
});

describe('writeout p99', () => {
  it('shows the steady latency of each record: ms, s, or at least 10 s', () => {
    const withP99 = (p99Ms: number | null): RunRecord => ({
      ...fakeRecord(),
      steadyLatency: { fromSeconds: 4, toSeconds: 10, writeouts: 100, p50Ms: 1, p99Ms },
    });
    const column = (p99Ms: number | null): string =>
      detailTable([ROWS[0] as RunResult], [withP99(p99Ms)])
        .split('\n')[2]
        ?.split(/\s{2,}/)
        .at(-1) ?? '';
    expect(column(5)).toBe('5 ms');
    expect(column(2000)).toBe('2 s');
    expect(column(10_000)).toBe('>= 10 s');
    expect(column(null)).toBe('-');
  });
});

describe('matrix', () => {
  it('shows the grid above the details for several runs, only the details for one', () => {
    expect(matrix(ROWS, [])).toBe(`${verdictGrid(ROWS)}\n\n${detailTable(ROWS, [])}`);
    expect(matrix(ROWS.slice(0, 1), [])).toBe(detailTable(ROWS.slice(0, 1), []));
  });
});
