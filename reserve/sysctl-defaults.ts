// Kernel defaults derived from the amount of RAM, with the kernel's own integer
// arithmetic: min_free_kbytes (calculate_min_free_kbytes), the zone watermarks
// (__setup_per_zone_wmarks) and the TCP memory limits (tcp_init_mem, tcp_init).
// One lowmem zone: managed pages = all of RAM.
import { PAGE_SIZE, pagesFromKb } from './units.ts';

/** Zone watermarks in pages: allocations are judged against these (mm/page_alloc.c). */
export interface Watermarks {
  readonly min: number;
  readonly low: number;
  readonly high: number;
}

/** Integer square root, exact (the kernel's int_sqrt). */
export function intSqrt(n: number): number {
  if (n < 0 || !Number.isSafeInteger(n)) throw new RangeError(`intSqrt: ${n}`);
  let r = Math.floor(Math.sqrt(n));
  while (r * r > n) r--;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

/**
 * calculate_min_free_kbytes: clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144).
 * At boot the high watermark is still 0, so lowmem_kbytes is all managed memory.
 */
export function defaultMinFreeKbytes(lowmemKbytes: number): number {
  const computed = intSqrt(lowmemKbytes * 16);
  return Math.min(Math.max(computed, 128), 262144);
}

/** The kernel's mult_frac(x, numer, denom) without overflow. */
function multFrac(x: number, numer: number, denom: number): number {
  const q = Math.floor(x / denom);
  const r = x % denom;
  return q * numer + Math.floor((r * numer) / denom);
}

/**
 * __setup_per_zone_wmarks for a single lowmem zone:
 * min = min_free_kbytes/4 pages, gap = max(min/4, managed * factor / 10000),
 * low = min + gap, high = low + gap.
 */
export function zoneWatermarks(
  managedPages: number,
  minFreeKbytes: number,
  watermarkScaleFactor = 10,
): Watermarks {
  const min = pagesFromKb(minFreeKbytes);
  const gap = Math.max(min >> 2, multFrac(managedPages, watermarkScaleFactor, 10000));
  return { min, low: min + gap, high: min + 2 * gap };
}

/** nr_free_buffer_pages: managed pages above the high watermark (lowmem zones). */
export function freeBufferPages(managedPages: number, high: number): number {
  return Math.max(managedPages - high, 0);
}

/**
 * Which kernel's tcp_mem formula: 'modern' (tcp_init_mem, since 3.x's /8 became /16),
 * '3.x' (tcp_init_mem of 3.x: nr_free_buffer_pages/8), '2.6' (tcp_init of 2.6.2x:
 * "up to 1/2 at 256 MB, decreasing toward zero with the amount of memory").
 */
export type TcpMemFormula = 'modern' | '3.x' | '2.6';

/**
 * tcp_mem in pages, [L/4*3, L, 2*(L/4*3)], with L by formula (kernel-reference 5):
 * modern (tcp_init_mem) L = max(nr_free_buffer_pages/16, 128); 3.x L =
 * max(nr_free_buffer_pages/8, 128); 2.6 (tcp_init) L = max((min(P, 2^28/PAGE_SIZE) >> 8)
 * * (P >> 8) >> 1, 128) with P = totalram pages less highmem (all of RAM here).
 */
export function tcpMemDefaults(
  nrFreeBufferPages: number,
  formula: TcpMemFormula = 'modern',
  totalRamPages = nrFreeBufferPages,
): readonly [number, number, number] {
  let limit: number;
  switch (formula) {
    case 'modern':
      limit = Math.floor(nrFreeBufferPages / 16);
      break;
    case '3.x':
      limit = Math.floor(nrFreeBufferPages / 8);
      break;
    case '2.6': {
      // limit = min(nr_pages, 1UL<<(28-PAGE_SHIFT)) >> (20-PAGE_SHIFT);
      // limit = (limit * (nr_pages >> (20-PAGE_SHIFT))) >> (PAGE_SHIFT-11);
      const first = Math.floor(Math.min(totalRamPages, 2 ** 28 / PAGE_SIZE) / 256);
      limit = Math.floor((first * Math.floor(totalRamPages / 256)) / 2);
      break;
    }
  }
  limit = Math.max(limit, 128);
  const low = Math.floor(limit / 4) * 3;
  return [low, limit, low * 2];
}

/** Per-socket buffer ceilings of an era (bytes), before the 1/128-of-memory cap. */
export interface SocketBufferCaps {
  /** The era's tcp_mem formula (tcp_init / tcp_init_mem). */
  readonly tcpMemFormula?: TcpMemFormula;
  readonly rmemDefault: number;
  readonly rmemMaxCap: number;
  readonly wmemMaxCap: number;
}

/** Modern kernels (6.16+): tcp_rmem[2] may reach 32 MB, tcp_wmem[2] 4 MB. */
export const MODERN_SOCKET_CAPS: SocketBufferCaps = {
  tcpMemFormula: 'modern',
  rmemDefault: 131072,
  rmemMaxCap: 32 * 1024 * 1024,
  wmemMaxCap: 4 * 1024 * 1024,
};

/**
 * tcp_init: per-socket limits no more than 1/128 of the pressure threshold:
 * limit = nr_free_buffer_pages << (PAGE_SHIFT - 7) bytes (2.6: tcp_mem[1] << (PAGE_SHIFT
 * - 7), pass it as `limitBasePages`);
 * tcp_rmem = [PAGE_SIZE, default, max(131072, min(cap, limit))],
 * tcp_wmem = [PAGE_SIZE, 16384, max(65536, min(4 MB, limit))].
 */
export function socketBufferDefaults(
  nrFreeBufferPages: number,
  caps: SocketBufferCaps = MODERN_SOCKET_CAPS,
  limitBasePages = nrFreeBufferPages,
): { tcpRmem: readonly [number, number, number]; tcpWmem: readonly [number, number, number] } {
  const limit = limitBasePages * (PAGE_SIZE / 128);
  return {
    tcpRmem: [PAGE_SIZE, caps.rmemDefault, Math.max(131072, Math.min(caps.rmemMaxCap, limit))],
    tcpWmem: [PAGE_SIZE, 16384, Math.max(64 * 1024, Math.min(caps.wmemMaxCap, limit))],
  };
}

/** Everything `swapnet sysctl` prints (DESIGN.md section 9). */
export interface DerivedSysctls {
  readonly memKb: number;
  readonly managedPages: number;
  readonly minFreeKbytes: number;
  readonly watermarks: Watermarks;
  readonly tcpMem: readonly [number, number, number];
  readonly tcpRmem: readonly [number, number, number];
  readonly tcpWmem: readonly [number, number, number];
}

/**
 * Derives the kernel's defaults for `memBytes` of RAM. A user `minFreeKbytes` replaces
 * the computed one (a sysctl write wins); TCP limits follow the resulting watermarks and
 * the era's formula (`caps.tcpMemFormula`, default modern).
 */
export function deriveSysctls(
  memBytes: number,
  options: { minFreeKbytes?: number; watermarkScaleFactor?: number; caps?: SocketBufferCaps } = {},
): DerivedSysctls {
  const managedPages = Math.floor(memBytes / PAGE_SIZE);
  const memKb = managedPages * (PAGE_SIZE / 1024);
  const minFreeKbytes = options.minFreeKbytes ?? defaultMinFreeKbytes(memKb);
  const watermarks = zoneWatermarks(managedPages, minFreeKbytes, options.watermarkScaleFactor);
  const nrFree = freeBufferPages(managedPages, watermarks.high);
  const formula = options.caps?.tcpMemFormula ?? 'modern';
  const tcpMem = tcpMemDefaults(nrFree, formula, managedPages);
  const { tcpRmem, tcpWmem } = socketBufferDefaults(
    nrFree,
    options.caps,
    formula === '2.6' ? tcpMem[1] : nrFree,
  );
  return {
    memKb,
    managedPages,
    minFreeKbytes,
    watermarks,
    tcpMem,
    tcpRmem,
    tcpWmem,
  };
}
