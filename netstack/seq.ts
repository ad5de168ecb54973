// Sequence numbers are 32-bit and wrap, like TCP's: compare them modulo 2^32.

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a + n, wrapped to 32 bits. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** b - a in sequence space (bytes from a to b). */
export function seqDiff(b: number, a: number): number {
  return (b - a) | 0;
}
