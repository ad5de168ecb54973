import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECODE_ERRORS, FrameDecoder } from '../../netstack/frame-decoder.ts';
import {
  encodeFrame,
  FRAME_TYPE,
  MAX_PAYLOAD_BYTES,
  writeU32,
  type Frame,
  type FrameFields,
} from '../../netstack/frame.ts';
import { decodeHello, encodeHello } from '../../netstack/hello.ts';

const SEED = 7011;

const fieldsArb = fc.record({
  type: fc.constantFrom(...Object.values(FRAME_TYPE)),
  flags: fc.nat(0xffff),
  flowId: fc.nat(0xffffffff),
  seq: fc.nat(0xffffffff),
  ack: fc.nat(0xffffffff),
  window: fc.nat(0xffffffff),
  payload: fc.uint8Array({ maxLength: 2048 }),
});

/** Decodes everything available, stopping at need-more or the first error. */
function drain(d: FrameDecoder): { frames: Frame[]; error?: string } {
  const frames: Frame[] = [];
  for (let f = d.next(); f; f = d.next()) frames.push({ ...f, payload: new Uint8Array(f.payload) });
  return d.error ? { frames, error: d.error } : { frames };
}

function same(f: Frame, g: FrameFields): void {
  expect(f).toEqual({
    type: g.type,
    flags: g.flags ?? 0,
    flowId: g.flowId,
    seq: g.seq ?? 0,
    ack: g.ack ?? 0,
    window: g.window ?? 0,
    payload: g.payload ?? new Uint8Array(0),
  });
}

describe('frame codec (property)', () => {
  it('round-trips any frame sequence however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(fieldsArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(4096), { maxLength: 12 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map((f) => encodeFrame(f)));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const d = new FrameDecoder();
          const out: Frame[] = [];
          let at = 0;
          for (const p of [...points, bytes.length]) {
            d.push(bytes.subarray(at, p));
            at = p;
            const r = drain(d);
            expect(r.error).toBeUndefined();
            out.push(...r.frames);
          }
          expect(out).toHaveLength(frames.length);
          frames.forEach((f, i) => same(out[i] as Frame, f));
          expect(d.end()).toBeNull();
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('decodes a frame fed one byte at a time, at every split point', () => {
    const f: FrameFields = {
      type: FRAME_TYPE.DATA,
      flowId: 9,
      seq: 100,
      ack: 7,
      window: 4096,
      payload: new Uint8Array([1, 2, 3, 4, 5]),
    };
    const bytes = encodeFrame(f);
    for (let split = 0; split <= bytes.length; split++) {
      const d = new FrameDecoder();
      d.push(bytes.subarray(0, split));
      const first = drain(d);
      d.push(bytes.subarray(split));
      const second = drain(d);
      expect([...first.frames, ...second.frames]).toHaveLength(1);
      expect(first.error ?? second.error).toBeUndefined();
    }
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (const b of bytes) {
      d.push(new Uint8Array([b]));
      got.push(...drain(d).frames);
    }
    same(got[0] as Frame, f);
  });

  it('never throws on random bytes: each input is frames, need-more or a named reason', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (chunks) => {
        const d = new FrameDecoder();
        for (const c of chunks) {
          d.push(c);
          const r = drain(d);
          if (r.error) expect(DECODE_ERRORS).toContain(r.error);
        }
        const end = d.end();
        if (end !== null) expect(DECODE_ERRORS).toContain(end);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('reports a truncated stream at its end, after every proper prefix', () => {
    const bytes = encodeFrame({ type: FRAME_TYPE.DATA, flowId: 1, payload: new Uint8Array(50) });
    for (let cut = 1; cut < bytes.length; cut++) {
      const d = new FrameDecoder();
      d.push(bytes.subarray(0, cut));
      expect(drain(d).frames).toHaveLength(0);
      expect(d.end()).toBe('truncated');
    }
  });
});

describe('frame codec: malformed frames', () => {
  const good = () => encodeFrame({ type: FRAME_TYPE.DATA, flowId: 3, payload: new Uint8Array(10) });
  const decodeOne = (bytes: Uint8Array) => {
    const d = new FrameDecoder();
    d.push(bytes);
    return drain(d);
  };

  it('refuses an oversized length (a 70 KB prefix) before waiting for its bytes', () => {
    const b = new Uint8Array(8);
    writeU32(b, 0, 70 * 1024);
    expect(decodeOne(b).error).toBe('too-long');
  });

  it('refuses a length shorter than a header', () => {
    const b = new Uint8Array(4);
    writeU32(b, 0, 5);
    expect(decodeOne(b).error).toBe('bad-length');
  });

  it('refuses a bad checksum, version, type and payload length', () => {
    const crc = good();
    crc[crc.length - 1] = (crc[crc.length - 1] as number) ^ 1;
    expect(decodeOne(crc).error).toBe('bad-checksum');
    const body = good();
    body[30] = (body[30] as number) ^ 0x80;
    expect(decodeOne(body).error).toBe('bad-checksum');
    const version = good();
    version[4] = 9;
    expect(decodeOne(version).error).toBe('bad-version');
    const type = good();
    type[5] = 99;
    expect(decodeOne(type).error).toBe('bad-type');
    const plen = good();
    writeU32(plen, 24, 11);
    expect(decodeOne(plen).error).toBe('bad-payload-length');
  });

  it('refuses an HTTP request as a stream of frames', () => {
    const http = new TextEncoder().encode('GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(decodeOne(http).error).toBe('too-long');
  });

  it('stays failed after an error: later good bytes are not decoded', () => {
    const d = new FrameDecoder();
    const bad = good();
    bad[5] = 99;
    d.push(bad);
    expect(drain(d).error).toBe('bad-type');
    d.push(good());
    expect(drain(d)).toEqual({ frames: [], error: 'bad-type' });
  });

  it('encoding refuses a payload over the maximum', () => {
    expect(() =>
      encodeFrame({
        type: FRAME_TYPE.DATA,
        flowId: 1,
        payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1),
      }),
    ).toThrow(RangeError);
    expect(
      encodeFrame({ type: FRAME_TYPE.DATA, flowId: 1, payload: new Uint8Array(MAX_PAYLOAD_BYTES) })
        .length,
    ).toBe(MAX_PAYLOAD_BYTES + 32);
  });
});

describe('HELLO payload', () => {
  it('round-trips role and token, and refuses malformed payloads', () => {
    expect(decodeHello(encodeHello({ role: 'b', token: 'sekret-ü' }))).toEqual({
      role: 'b',
      token: 'sekret-ü',
    });
    expect(decodeHello(new Uint8Array([9, 0, 0]))).toBeNull();
    expect(decodeHello(new Uint8Array([1, 0, 5, 65]))).toBeNull();
    expect(decodeHello(new Uint8Array([1, 0, 1, 0xff]))).toBeNull();
    expect(decodeHello(new Uint8Array([]))).toBeNull();
  });
});
