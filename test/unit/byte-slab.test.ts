import { describe, expect, it } from 'vitest';
import { takeBytes } from '../../netstack/byte-slab.ts';

describe('takeBytes', () => {
  it('hands out 8-byte aligned buffers that never share a byte, across slabs', () => {
    const taken: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const b = takeBytes(1 + ((i * 4099) % 5000));
      expect(b.byteOffset % 8).toBe(0);
      b.fill(i & 0xff);
      taken.push(b);
    }
    taken.forEach((b, i) => expect(b.every((x) => x === (i & 0xff))).toBe(true));
  });

  it('gives a request too big for a slab a buffer of its own', () => {
    const b = takeBytes(1 << 20);
    expect(b.length).toBe(1 << 20);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(1 << 20);
  });
});
