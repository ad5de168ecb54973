// Writeout latency: the cumulative histogram A ships in /status, quantiles of an interval
// from two snapshots, and the steady-state figure a run record keeps.
import { describe, expect, it } from 'vitest';
import {
  countsBetween,
  LATENCY_BOUNDS_MS,
  LatencyHistogram,
  quantileMs,
} from '../../nodes/machines/latency-histogram.ts';
import { steadyWriteLatency, type TimelinePoint } from '../../orchestrator/runner.ts';
import { fakePoint } from '../helpers/run-record.ts';

describe('LatencyHistogram', () => {
  it('puts an observation in the first bucket whose bound holds it, beyond the last in the last', () => {
    const h = new LatencyHistogram();
    for (const ms of [0.1, 0.5, 0.51, 3, 10_000, 10_001, 1e9]) h.observe(ms);
    expect(h.counts).toHaveLength(LATENCY_BOUNDS_MS.length + 1);
    expect(h.counts[0]).toBe(2); // <= 0.5
    expect(h.counts[1]).toBe(1); // <= 1
    expect(h.counts[3]).toBe(1); // <= 5
    expect(h.counts[LATENCY_BOUNDS_MS.length - 1]).toBe(1); // <= 10 s
    expect(h.counts[LATENCY_BOUNDS_MS.length]).toBe(2); // beyond
  });
});

describe('quantileMs', () => {
  it('is the bound of the bucket holding the rank, null without data, Infinity beyond', () => {
    const counts = countsBetween(undefined, [0, 90, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(quantileMs(counts, 0.5)).toBe(1);
    expect(quantileMs(counts, 0.95)).toBe(5);
    expect(quantileMs(counts, 0.99)).toBe(5);
    expect(quantileMs(counts, 1)).toBe(10);
    expect(quantileMs(new Array<number>(15).fill(0), 0.5)).toBeNull();
    const beyond = new Array<number>(15).fill(0);
    beyond[14] = 1;
    expect(quantileMs(beyond, 0.5)).toBe(Infinity);
  });

  it('takes an interval as the difference of two snapshots', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 100; i++) h.observe(2000);
    const before = [...h.counts];
    for (let i = 0; i < 100; i++) h.observe(0.2);
    expect(quantileMs(countsBetween(before, h.counts), 0.99)).toBe(0.5);
    expect(quantileMs(h.counts, 0.99)).toBe(2000);
  });
});

describe('steadyWriteLatency', () => {
  it('counts the writeouts completed between the two times and caps beyond 10 s', () => {
    const slow = (p: TimelinePoint, n: number): TimelinePoint => ({
      ...p,
      writeLatencyCounts: [...new Array<number>(14).fill(0), n],
    });
    const timeline = [0, 1, 2, 3].map((t) => slow(fakePoint(t, true), t * 10));
    const s = steadyWriteLatency(timeline, 1, 3);
    expect(s).toEqual({
      fromSeconds: 1,
      toSeconds: 3,
      writeouts: 20,
      p50Ms: 10_000,
      p99Ms: 10_000,
    });
    expect(steadyWriteLatency(timeline, 5, 6)).toMatchObject({ writeouts: 0, p50Ms: null });
  });
});
