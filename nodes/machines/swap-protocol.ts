// The NBD-like protocol on the swap flow between A's swap driver and C. Each message is
// one frame payload:
//   WRITE  u8 1 | u32 handle | u32 slot | u32 page | u32 version | 4096 bytes
//   READ   u8 2 | u32 handle | u32 slot | u32 page
//   REPLY  u8 3 | u32 handle | u8 status | [4096 bytes for a read]
// `page` and `version` travel for C's logs and store records; A checks the content.
import { takeBytes } from '../../netstack/byte-slab.ts';
import { readU32, writeU32 } from '../../netstack/frame.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';

export const SWAP_OP = { WRITE: 1, READ: 2, REPLY: 3 } as const;
export const SWAP_STATUS = {
  OK: 0,
  /** The slot is outside the device. */
  OUT_OF_RANGE: 1,
  /** Nothing confirmed is stored in that slot. */
  NOT_FOUND: 2,
  /** The store failed (I/O error, corrupt record). */
  IO_ERROR: 3,
} as const;
export type SwapStatus = (typeof SWAP_STATUS)[keyof typeof SWAP_STATUS];

export type SwapMessage =
  | {
      readonly op: 'write';
      readonly handle: number;
      readonly slot: number;
      readonly page: number;
      readonly version: number;
      readonly data: Uint8Array;
    }
  | { readonly op: 'read'; readonly handle: number; readonly slot: number; readonly page: number }
  | {
      readonly op: 'reply';
      readonly handle: number;
      readonly status: SwapStatus;
      readonly data: Uint8Array | null;
    };

export const WRITE_MESSAGE_BYTES = 17 + PAGE_SIZE;

/** A WRITE message, in `out` (WRITE_MESSAGE_BYTES long) if given. */
export function encodeWrite(
  handle: number,
  slot: number,
  page: number,
  version: number,
  data: Uint8Array,
  out: Uint8Array = takeBytes(WRITE_MESSAGE_BYTES),
): Uint8Array {
  out[0] = SWAP_OP.WRITE;
  writeU32(out, 1, handle);
  writeU32(out, 5, slot);
  writeU32(out, 9, page);
  writeU32(out, 13, version);
  out.set(data.subarray(0, PAGE_SIZE), 17);
  return out;
}

export function encodeRead(handle: number, slot: number, page: number): Uint8Array {
  const out = takeBytes(13);
  out[0] = SWAP_OP.READ;
  writeU32(out, 1, handle);
  writeU32(out, 5, slot);
  writeU32(out, 9, page);
  return out;
}

export function encodeReply(
  handle: number,
  status: SwapStatus,
  data: Uint8Array | null = null,
): Uint8Array {
  const out = takeBytes(6 + (data ? PAGE_SIZE : 0));
  out[0] = SWAP_OP.REPLY;
  writeU32(out, 1, handle);
  out[5] = status;
  if (data) out.set(data.subarray(0, PAGE_SIZE), 6);
  return out;
}

/** Decodes a message; null when it is malformed (wrong op or length). */
export function decodeSwapMessage(p: Uint8Array): SwapMessage | null {
  switch (p[0]) {
    case SWAP_OP.WRITE:
      if (p.length !== 17 + PAGE_SIZE) return null;
      return {
        op: 'write',
        handle: readU32(p, 1),
        slot: readU32(p, 5),
        page: readU32(p, 9),
        version: readU32(p, 13),
        data: p.subarray(17),
      };
    case SWAP_OP.READ:
      if (p.length !== 13) return null;
      return { op: 'read', handle: readU32(p, 1), slot: readU32(p, 5), page: readU32(p, 9) };
    case SWAP_OP.REPLY: {
      if (p.length !== 6 && p.length !== 6 + PAGE_SIZE) return null;
      const status = p[5] as number;
      if (status > SWAP_STATUS.IO_ERROR) return null;
      return {
        op: 'reply',
        handle: readU32(p, 1),
        status: status as SwapStatus,
        data: p.length === 6 ? null : p.subarray(6),
      };
    }
    default:
      return null;
  }
}
