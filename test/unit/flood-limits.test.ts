// B's two limits as pure functions: the p-queue window for flood.rate (the rate exact, a
// burst at most one window's cap) and the send buffer that bounds what B keeps unacknowledged.
import { describe, expect, it } from 'vitest';
import { floodSndbufBytes, rateLimit } from '../../nodes/node-b.ts';
import { ERROR_CODES } from '../../reserve/errors.ts';

describe('rateLimit (flood.rate as p-queue interval caps)', () => {
  it.each([0.5, 1, 99, 100, 101, 250, 1000, 12_345.6, 1e9])(
    'rate %d: intervalCap / interval is the rate, windows of at least 10 ms',
    (rate) => {
      const { intervalCap, interval } = rateLimit(rate);
      expect(Number.isInteger(intervalCap) && intervalCap >= 1).toBe(true);
      expect((intervalCap * 1000) / interval).toBeCloseTo(rate, 6);
      expect(interval).toBeGreaterThanOrEqual(10 - 1e-9);
    },
  );

  it('100 frames/s is one frame every 10 ms', () => {
    expect(rateLimit(100)).toEqual({ intervalCap: 1, interval: 10 });
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses rate %d', (rate) => {
    expect(() => rateLimit(rate)).toThrow(expect.objectContaining({ code: ERROR_CODES.invariant }));
  });
});

describe('floodSndbufBytes (what B keeps unacknowledged per flow)', () => {
  it('is tcp_wmem[2] (4 MiB) for few connections, 64 MiB in all for many, never below 64 KiB', () => {
    expect(floodSndbufBytes(1)).toBe(4 * 1024 * 1024);
    expect(floodSndbufBytes(0)).toBe(4 * 1024 * 1024);
    expect(floodSndbufBytes(64)).toBe(1024 * 1024);
    expect(floodSndbufBytes(100_000)).toBe(64 * 1024);
  });
});
