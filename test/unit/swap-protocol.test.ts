// The swap protocol codec (nodes/machines/swap-protocol.ts): every message decodes to
// what was encoded, also from a view inside a larger buffer (as a frame's payload is);
// anything malformed decodes to null and never throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSwapMessage,
  encodeRead,
  encodeReply,
  encodeWrite,
  SWAP_OP,
  SWAP_STATUS,
} from '../../nodes/machines/swap-protocol.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';

const SEED = 20_261_204;
const u32 = fc.nat(0xffffffff);
const page = fc.uint8Array({ minLength: PAGE_SIZE, maxLength: PAGE_SIZE });
const status = fc.constantFrom(...Object.values(SWAP_STATUS));

/** `bytes` as a view at an odd offset inside a larger buffer. */
function embedded(bytes: Uint8Array, offset: number): Uint8Array {
  const big = new Uint8Array(offset + bytes.length + 5).fill(0xa5);
  big.set(bytes, offset);
  return big.subarray(offset, offset + bytes.length);
}

describe('swap protocol', () => {
  it('WRITE, READ and REPLY round-trip, also from a view inside a larger buffer', () => {
    fc.assert(
      fc.property(u32, u32, u32, u32, page, fc.nat(9), (handle, slot, pg, version, data, off) => {
        const w = decodeSwapMessage(embedded(encodeWrite(handle, slot, pg, version, data), off));
        expect(w).toEqual({ op: 'write', handle, slot, page: pg, version, data });
        const r = decodeSwapMessage(embedded(encodeRead(handle, slot, pg), off));
        expect(r).toEqual({ op: 'read', handle, slot, page: pg });
      }),
      { seed: SEED, numRuns: 40 },
    );
    fc.assert(
      fc.property(u32, status, fc.option(page), (handle, st, data) => {
        expect(decodeSwapMessage(encodeReply(handle, st, data))).toEqual({
          op: 'reply',
          handle,
          status: st,
          data,
        });
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('the encodings have the documented sizes', () => {
    expect(encodeWrite(1, 2, 3, 4, new Uint8Array(PAGE_SIZE)).length).toBe(17 + PAGE_SIZE);
    expect(encodeRead(1, 2, 3).length).toBe(13);
    expect(encodeReply(1, SWAP_STATUS.OK).length).toBe(6);
    expect(encodeReply(1, SWAP_STATUS.OK, new Uint8Array(PAGE_SIZE)).length).toBe(6 + PAGE_SIZE);
  });

  it('any bytes decode without throwing: null, or a message whose op and length agree', () => {
    const lengths: Record<string, number[]> = {
      write: [17 + PAGE_SIZE],
      read: [13],
      reply: [6, 6 + PAGE_SIZE],
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.uint8Array({ minLength: PAGE_SIZE, maxLength: PAGE_SIZE + 40 }),
        ),
        (bytes) => {
          const m = decodeSwapMessage(bytes);
          if (m !== null) expect(lengths[m.op]).toContain(bytes.length);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('every truncation or extension of a valid message is null', () => {
    const messages = [
      encodeWrite(7, 8, 9, 10, new Uint8Array(PAGE_SIZE).fill(3)),
      encodeRead(7, 8, 9),
      encodeReply(7, SWAP_STATUS.NOT_FOUND),
      encodeReply(7, SWAP_STATUS.OK, new Uint8Array(PAGE_SIZE).fill(4)),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...messages), fc.integer({ min: -20, max: 20 }), (msg, d) => {
        fc.pre(d !== 0);
        const len = msg.length + d;
        fc.pre(len >= 0);
        const changed = new Uint8Array(len);
        changed.set(msg.subarray(0, Math.min(len, msg.length)));
        // The one other valid length: a data reply cut to 6 bytes is a reply without data.
        fc.pre(!(msg[0] === SWAP_OP.REPLY && len === 6));
        expect(decodeSwapMessage(changed)).toBeNull();
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('an empty message, an unknown op and a reply status beyond IO_ERROR are null', () => {
    expect(decodeSwapMessage(new Uint8Array(0))).toBeNull();
    for (const op of [0, 4, 255]) {
      const m = encodeRead(1, 2, 3);
      m[0] = op;
      expect(decodeSwapMessage(m)).toBeNull();
    }
    for (let st = SWAP_STATUS.IO_ERROR + 1; st <= 255; st++) {
      const m = encodeReply(1, SWAP_STATUS.OK);
      m[5] = st;
      expect(decodeSwapMessage(m)).toBeNull();
    }
  });
});
