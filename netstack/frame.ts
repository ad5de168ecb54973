// Wire frames: what each real TCP connection carries. Length-prefixed, versioned, typed,
// checksummed (CRC-32), bounded. Encoding writes into a caller's buffer or a fresh one;
// decoding is in frame-decoder.ts. Layout (big-endian):
//
//   0  u32  length of what follows (24 + payload + 4)
//   4  u8   version (1)
//   5  u8   type (HELLO, DATA, ACK, OPEN, CLOSE)
//   6  u16  flags
//   8  u32  flow id
//  12  u32  seq (byte sequence of the payload's first byte)
//  16  u32  ack (cumulative: next byte expected from the peer)
//  20  u32  advertised window (bytes)
//  24  u32  payload length
//  28  ...  payload
//   .  u32  CRC-32 of bytes 4 .. end of payload
import { takeBytes } from './byte-slab.ts';
import { crc32Range } from './crc32.ts';

export const FRAME_VERSION = 1;
/** Bytes before the payload, length field included. */
export const FRAME_HEADER_BYTES = 28;
/** Bytes of framing around a payload: header plus checksum. */
export const FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 4;
/** The largest payload a frame may carry. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** The largest value the length field may hold. */
export const MAX_FRAME_LENGTH = MAX_PAYLOAD_BYTES + FRAME_OVERHEAD_BYTES - 4;

export const FRAME_TYPE = {
  /** First frame of a connection: the sender's role and the shared token. */
  HELLO: 1,
  /** Payload on a flow, with piggybacked ack and window. */
  DATA: 2,
  /** Pure acknowledgement / window update. */
  ACK: 3,
  /** Opens a flow (the emulated SYN). */
  OPEN: 4,
  /** Closes a flow (the emulated RST). */
  CLOSE: 5,
} as const;
export type FrameType = (typeof FRAME_TYPE)[keyof typeof FRAME_TYPE];
const MAX_TYPE = 5;

export const FRAME_FLAG = {
  /** Retransmission (for counters only). */
  RETRANSMIT: 1,
  /** Zero-window probe: the receiver answers with an ACK carrying its window. */
  PROBE: 2,
} as const;

/**
 * A decoded frame. `payload` is a view into the received bytes; decoders never reuse a
 * buffer once handed out, so the view stays valid (it keeps that chunk alive).
 */
export interface Frame {
  readonly type: FrameType;
  readonly flags: number;
  readonly flowId: number;
  readonly seq: number;
  readonly ack: number;
  readonly window: number;
  readonly payload: Uint8Array;
}

/** What a sender fills in. */
export interface FrameFields {
  readonly type: FrameType;
  readonly flags?: number;
  readonly flowId: number;
  readonly seq?: number;
  readonly ack?: number;
  readonly window?: number;
  readonly payload?: Uint8Array;
}

export function isFrameType(t: number): t is FrameType {
  return t >= 1 && t <= MAX_TYPE;
}

const EMPTY = new Uint8Array(0);

/** Bytes a frame with `payloadBytes` of payload takes on the wire. */
export function encodedSize(payloadBytes: number): number {
  return FRAME_OVERHEAD_BYTES + payloadBytes;
}

/**
 * Encodes a frame into `out` at `offset` (which must have encodedSize() bytes free);
 * returns the bytes written. Throws RangeError for a payload over MAX_PAYLOAD_BYTES.
 */
export function encodeFrameInto(fields: FrameFields, out: Uint8Array, offset: number): number {
  const payload = fields.payload ?? EMPTY;
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  }
  const length = FRAME_OVERHEAD_BYTES - 4 + payload.length;
  writeU32(out, offset, length);
  out[offset + 4] = FRAME_VERSION;
  out[offset + 5] = fields.type;
  out[offset + 6] = ((fields.flags ?? 0) >>> 8) & 0xff;
  out[offset + 7] = (fields.flags ?? 0) & 0xff;
  writeU32(out, offset + 8, fields.flowId);
  writeU32(out, offset + 12, fields.seq ?? 0);
  writeU32(out, offset + 16, fields.ack ?? 0);
  writeU32(out, offset + 20, fields.window ?? 0);
  writeU32(out, offset + 24, payload.length);
  out.set(payload, offset + FRAME_HEADER_BYTES);
  const end = offset + FRAME_HEADER_BYTES + payload.length;
  writeU32(out, end, crc32Range(out, offset + 4, end));
  return end + 4 - offset;
}

/** Encodes a frame into a buffer of its own (from a slab: netstack/byte-slab.ts). */
export function encodeFrame(fields: FrameFields): Uint8Array {
  const out = takeBytes(encodedSize(fields.payload?.length ?? 0));
  encodeFrameInto(fields, out, 0);
  return out;
}

export function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = (value >>> 24) & 0xff;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
}

export function readU32(buf: Uint8Array, offset: number): number {
  return (
    (((buf[offset] as number) << 24) |
      ((buf[offset + 1] as number) << 16) |
      ((buf[offset + 2] as number) << 8) |
      (buf[offset + 3] as number)) >>>
    0
  );
}

export function readU16(buf: Uint8Array, offset: number): number {
  return (((buf[offset] as number) << 8) | (buf[offset + 1] as number)) >>> 0;
}

/** CRC-32 of a byte range (the frame checksum). */
export function checksum(bytes: Uint8Array): number {
  return crc32Range(bytes, 0, bytes.length);
}
