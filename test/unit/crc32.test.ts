// The frame checksum: the table loop and zlib agree on every range, the combine algebra
// matches a CRC of the concatenation, and a decoder that checks the frames of a chunk as
// one run returns exactly what a frame-by-frame check would: every good frame before the
// first corrupted one, then bad-checksum.
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32Combine, crc32Range, crc32Update, Crc32Shift } from '../../netstack/crc32.ts';
import { FrameDecoder } from '../../netstack/frame-decoder.ts';
import { encodeFrame, FRAME_TYPE, type Frame } from '../../netstack/frame.ts';

const SEED = 0xc3c32;

describe('CRC-32 (property)', () => {
  it('the table loop and zlib agree on any range, at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(600), fc.nat(600), (bytes, a, b) => {
        const start = Math.min(a, b) % (bytes.length + 1);
        const end = Math.max(start, Math.max(a, b) % (bytes.length + 1));
        const expected = crc32(bytes.subarray(start, end)) >>> 0;
        expect(crc32Range(bytes, start, end)).toBe(expected);
        // Continuing a CRC over the rest is the CRC of the whole.
        const mid = (start + end) >>> 1;
        expect(crc32Update(crc32Range(bytes, start, mid), bytes, mid, end)).toBe(expected);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('combining two CRCs gives the CRC of the concatenation, by formula and by table', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 2000 }), (a, b) => {
        const whole = crc32(Buffer.concat([a, b])) >>> 0;
        const ca = crc32(a) >>> 0;
        const cb = crc32(b) >>> 0;
        expect(crc32Combine(ca, cb, b.length)).toBe(whole);
        expect((new Crc32Shift(b.length).apply(ca) ^ cb) >>> 0).toBe(whole);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

const frameArb = fc.record({
  type: fc.constantFrom(FRAME_TYPE.DATA, FRAME_TYPE.ACK),
  flowId: fc.nat(100),
  seq: fc.nat(0xffffffff),
  // Few distinct lengths, and sometimes many (past the decoder's table cache).
  payload: fc.oneof(
    fc.constantFrom(0, 100, 1024).map((n) => new Uint8Array(n).fill(n & 0xff)),
    fc.uint8Array({ maxLength: 300 }),
  ),
});

/** Decodes `chunks` and returns the frames (copied) and the error, if any. */
function decodeAll(chunks: readonly Uint8Array[]): { frames: Frame[]; error: string | null } {
  const d = new FrameDecoder();
  const frames: Frame[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let f = d.next(); f; f = d.next()) frames.push({ ...f, payload: f.payload.slice() });
    if (d.error) break;
  }
  return { frames, error: d.error };
}

describe('frame decoder: a run of frames checked with one CRC pass (property)', () => {
  it('returns the frames before the first corrupted one, then bad-checksum, as one by one', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.record({ frame: fc.nat(), byte: fc.nat(), bit: fc.nat(7) }), {
          maxLength: 3,
        }),
        fc.nat(4096),
        (fields, flips, cut) => {
          const encoded = fields.map((f) => encodeFrame(f));
          // Corrupt only checksummed bytes (the body or the CRC), never the header fields
          // the decoder checks first: those fail with their own reasons.
          for (const { frame, byte, bit } of flips) {
            const e = encoded[frame % encoded.length] as Uint8Array;
            const at = 28 + (byte % (e.length - 28));
            e[at] = (e[at] as number) ^ (1 << bit);
          }
          const firstBad = encoded.findIndex((e) => {
            const d = new FrameDecoder();
            d.push(e);
            return d.next() === null;
          });
          const bytes = Buffer.concat(encoded);
          const at = cut % (bytes.length + 1);
          const got = decodeAll([bytes.subarray(0, at), bytes.subarray(at)]);
          const good = firstBad === -1 ? encoded.length : firstBad;
          expect(got.frames).toHaveLength(good);
          got.frames.forEach((f, i) => {
            const g = fields[i] as (typeof fields)[number];
            expect(f).toMatchObject({ type: g.type, flowId: g.flowId, seq: g.seq });
            expect(f.payload).toEqual(g.payload);
          });
          expect(got.error).toBe(firstBad === -1 ? null : 'bad-checksum');
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('the frames whole in one chunk are checked as one run', () => {
    const frames = Array.from({ length: 64 }, (_, i) =>
      encodeFrame({ type: FRAME_TYPE.DATA, flowId: i, payload: new Uint8Array(1024).fill(i) }),
    );
    const d = new FrameDecoder();
    d.push(Buffer.concat(frames));
    const ids: number[] = [];
    for (let f = d.next(); f; f = d.next()) ids.push(f.flowId);
    expect(d.error).toBeNull();
    expect(ids).toEqual(frames.map((_, i) => i));
    expect(d.framesCheckedInRuns).toBe(64);
  });
});
