import { describe, expect, it } from 'vitest';
import {
  defaultMinFreeKbytes,
  deriveSysctls,
  intSqrt,
  MODERN_SOCKET_CAPS,
  tcpMemDefaults,
  zoneWatermarks,
} from '../../reserve/sysctl-defaults.ts';
import { parseSize } from '../../reserve/size.ts';
import { ERROR_CODES } from '../../reserve/errors.ts';
import {
  MAX_RECLAIM_RETRIES,
  PAGE_ALLOC_COSTLY_ORDER,
  PAGE_SIZE,
  SWAP_CLUSTER_MAX,
} from '../../reserve/units.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('kernel constants (kernel-reference 1)', () => {
  it('uses 4096-byte pages, costly order 3, 16 reclaim retries, 32-page reclaim batches', () => {
    expect([PAGE_SIZE, PAGE_ALLOC_COSTLY_ORDER, MAX_RECLAIM_RETRIES, SWAP_CLUSTER_MAX]).toEqual([
      4096, 3, 16, 32,
    ]);
  });
});

describe('calculate_min_free_kbytes', () => {
  it('is int_sqrt(lowmem_kbytes * 16)', () => {
    expect(defaultMinFreeKbytes(8 * 1024 * 1024)).toBe(11585);
    expect(defaultMinFreeKbytes(256 * 1024)).toBe(2048);
  });

  it('is clamped to [128, 262144]', () => {
    expect(defaultMinFreeKbytes(1024)).toBe(128); // int_sqrt(16384) = 128 exactly
    expect(defaultMinFreeKbytes(1000)).toBe(128); // int_sqrt(16000) = 126 -> 128
    expect(defaultMinFreeKbytes(4 * 1024 ** 3)).toBe(262144); // 4 TiB would give 262144
    expect(defaultMinFreeKbytes(16 * 1024 ** 3)).toBe(262144); // clamped
  });

  it('intSqrt is exact at perfect squares and just below them', () => {
    expect(intSqrt(134217728)).toBe(11585);
    expect(intSqrt(11585 * 11585)).toBe(11585);
    expect(intSqrt(11585 * 11585 - 1)).toBe(11584);
  });

  it('a larger user value wins (a sysctl write replaces the computed one)', () => {
    const s = deriveSysctls(256 * MiB, { minFreeKbytes: 52428 });
    expect(s.minFreeKbytes).toBe(52428);
    expect(s.watermarks.min).toBe(13107);
  });
});

describe('__setup_per_zone_wmarks (one lowmem zone)', () => {
  it('8 GiB: min_free_kbytes 11585, watermarks 2896/4993/7090', () => {
    const s = deriveSysctls(8 * GiB);
    expect(s.minFreeKbytes).toBe(11585);
    expect(s.watermarks).toEqual({ min: 2896, low: 4993, high: 7090 });
  });

  it('256 MiB: min_free_kbytes 2048, watermarks 512/640/768', () => {
    const s = deriveSysctls(256 * MiB);
    expect(s.minFreeKbytes).toBe(2048);
    expect(s.watermarks).toEqual({ min: 512, low: 640, high: 768 });
  });

  it('gap = max(min/4, managed * watermark_scale_factor / 10000)', () => {
    // 256 MiB: min/4 = 128 beats 65536*10/10000 = 65.
    expect(zoneWatermarks(65536, 2048, 10)).toEqual({ min: 512, low: 640, high: 768 });
    // Factor 100 gives 655 > 128.
    expect(zoneWatermarks(65536, 2048, 100)).toEqual({ min: 512, low: 1167, high: 1822 });
  });
});

describe('tcp_init_mem and tcp_init', () => {
  it('tcp_mem = [L/4*3, L, 2*(L/4*3)] with L = max(nr_free_buffer_pages/16, 128)', () => {
    // nr_free_buffer_pages = managed - high = 65536 - 768 = 64768; L = 4048.
    expect(deriveSysctls(256 * MiB).tcpMem).toEqual([3036, 4048, 6072]);
    expect(tcpMemDefaults(100)).toEqual([96, 128, 192]);
  });

  it("matches this kind of machine's /proc/sys/net/ipv4/tcp_mem (integer order of the kernel)", () => {
    // A 24 GiB machine read 287898 383867 575796: L/4*3 = 95966*3, not L*3/4 = 287900.
    expect(tcpMemDefaults(383867 * 16)).toEqual([287898, 383867, 575796]);
  });

  it('per-socket limits are capped at 1/128 of memory (tcp_rmem[2], tcp_wmem[2])', () => {
    const small = deriveSysctls(256 * MiB);
    expect(small.tcpRmem).toEqual([4096, 131072, 64768 * 32]);
    expect(small.tcpWmem).toEqual([4096, 16384, 64768 * 32]);
    const big = deriveSysctls(64 * GiB);
    expect(big.tcpRmem[2]).toBe(32 * MiB);
    expect(big.tcpWmem[2]).toBe(4 * MiB);
  });
});

describe('parseSize', () => {
  it('reads binary units like memparse', () => {
    expect(parseSize('256M')).toBe(256 * MiB);
    expect(parseSize('8G')).toBe(8 * GiB);
    expect(parseSize('24684096K')).toBe(24684096 * 1024);
    expect(parseSize('1.5GiB')).toBe(1.5 * GiB);
    expect(parseSize('4096')).toBe(4096);
  });

  it('rejects garbage with an error naming the field', () => {
    expect(() => parseSize('lots', '--mem')).toThrowError(
      expect.objectContaining({ code: ERROR_CODES.sizeInvalid, field: '--mem' }),
    );
    expect(() => parseSize('0M')).toThrowError(
      expect.objectContaining({ code: ERROR_CODES.sizeInvalid }),
    );
    expect(() => parseSize('12Q')).toThrowError(/not a size/);
  });
});

describe('tcp_mem by era (kernel-reference 5)', () => {
  it('2.6 tcp_init: L = (min(P, 65536) >> 8) * (P >> 8) >> 1, half of RAM at 256 MiB', () => {
    expect(tcpMemDefaults(0, '2.6', 65536)).toEqual([24576, 32768, 49152]);
    // Above 256 MiB the first factor stops growing: 512 MiB -> 256 * 512 / 2.
    expect(tcpMemDefaults(0, '2.6', 131072)).toEqual([49152, 65536, 98304]);
    // The floor of 128 pages: 4 MiB gives (4 * 4) >> 1 = 8 -> 128.
    expect(tcpMemDefaults(0, '2.6', 1024)).toEqual([96, 128, 192]);
    // P >> 8 truncates: 511 pages give 1 * 1 >> 1 = 0 -> 128.
    expect(tcpMemDefaults(0, '2.6', 511)).toEqual([96, 128, 192]);
  });

  it('3.x tcp_init_mem: L = max(nr_free_buffer_pages / 8, 128)', () => {
    expect(tcpMemDefaults(64768, '3.x')).toEqual([6072, 8096, 12144]);
    expect(tcpMemDefaults(1031, '3.x')).toEqual([96, 128, 192]); // 1031/8 = 128
    expect(tcpMemDefaults(1023, '3.x')).toEqual([96, 128, 192]); // 127 -> floor 128
    expect(tcpMemDefaults(1032, '3.x')).toEqual([96, 129, 192]); // 129/4*3 = 96
  });

  it('deriveSysctls follows the era formula given in caps; modern is the default', () => {
    const mem = 256 * MiB;
    expect(deriveSysctls(mem).tcpMem).toEqual([3036, 4048, 6072]);
    expect(
      deriveSysctls(mem, { caps: { ...MODERN_SOCKET_CAPS, tcpMemFormula: '3.x' } }).tcpMem,
    ).toEqual([6072, 8096, 12144]);
    const old = deriveSysctls(mem, { caps: { ...MODERN_SOCKET_CAPS, tcpMemFormula: '2.6' } });
    expect(old.tcpMem).toEqual([24576, 32768, 49152]);
    // 2.6's per-socket limit is 1/128 of tcp_mem[1]: 32768 pages << 5 = 1 MiB.
    expect(old.tcpWmem[2]).toBe(1024 * 1024);
  });
});
