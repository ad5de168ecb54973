// CRC-32 (the zlib one: reflected, polynomial 0xEDB88320) for the frame checksum, and the
// algebra that lets a receiver check a run of frames with one pass over their bytes:
// CRC-32 is linear, so crc(A || B) = crc(A) * x^(8 |B|) + crc(B) modulo the polynomial
// (zlib's crc32_combine). Long ranges go to zlib's native crc32; short ones, and the
// few bytes between frames, to a table loop that needs no view.
import { crc32 as zlibCrc32 } from 'node:zlib';

const POLY = 0xedb88320;

/**
 * Slicing-by-4 tables of the reflected polynomial: TABLE[n] is the byte-at-a-time table,
 * TABLE[256 j + n] the CRC of byte n followed by j zero bytes.
 */
const TABLE = (() => {
  const t = new Int32Array(1024);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let j = 1; j < 4; j++) {
    for (let n = 0; n < 256; n++) {
      const p = t[(j - 1) * 256 + n] as number;
      t[j * 256 + n] = (t[p & 0xff] as number) ^ (p >>> 8);
    }
  }
  return t;
})();

/**
 * Up to this many bytes the table loop beats zlib's crc32, whose call and the view it
 * needs cost about 100 ns (ACKs, OPENs, HELLOs, the bytes between two frames).
 */
const SHORT_BYTES = 128;

/**
 * Continues `crc` (the CRC-32 of some bytes) over buf[start, end): the CRC-32 of those
 * bytes followed by these. Any range; short ones cost no allocation.
 */
export function crc32Update(crc: number, buf: Uint8Array, start: number, end: number): number {
  if (end - start > SHORT_BYTES) {
    return zlibCrc32(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start), crc) >>> 0;
  }
  let c = ~crc;
  for (let i = start; i < end; i++)
    c = (TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of buf[start, end). */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  return crc32Update(0, buf, start, end);
}

/** a * b modulo the polynomial, in the reflected bit order (zlib's multmodp). */
function multModP(a: number, b: number): number {
  if (a === 0) return 0;
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N = (() => {
  const t = new Array<number>(32);
  let p = 1 << 30; // x^1
  t[0] = p;
  for (let n = 1; n < 32; n++) t[n] = p = multModP(p, p);
  return t;
})();

/** x^(8 * bytes) modulo the polynomial: what appending `bytes` bytes multiplies a CRC by. */
function xPowBytes(bytes: number): number {
  let p = 0x80000000; // x^0
  let k = 3;
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) {
    if (n & 1) p = multModP(X2N[k & 31] as number, p);
  }
  return p;
}

/** crc(A || B) from crc(A), crc(B) and |B| (zlib's crc32_combine). */
export function crc32Combine(crcA: number, crcB: number, bytesB: number): number {
  return (multModP(xPowBytes(bytesB), crcA) ^ crcB) >>> 0;
}

/**
 * Multiplication by x^(8 * bytes) as four byte tables: shift(crc) is what crcA becomes in
 * crc32Combine(crcA, crcB, bytes) before crcB is added, in four lookups.
 */
export class Crc32Shift {
  private readonly table = new Int32Array(1024);

  constructor(readonly bytes: number) {
    const k = xPowBytes(bytes);
    for (let j = 0; j < 4; j++) {
      for (let b = 0; b < 256; b++) this.table[j * 256 + b] = multModP(k, (b << (8 * j)) >>> 0);
    }
  }

  apply(crc: number): number {
    const t = this.table;
    return (
      ((t[crc & 0xff] as number) ^
        (t[256 + ((crc >>> 8) & 0xff)] as number) ^
        (t[512 + ((crc >>> 16) & 0xff)] as number) ^
        (t[768 + (crc >>> 24)] as number)) >>>
      0
    );
  }
}
