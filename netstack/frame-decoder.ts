// A streaming frame decoder: bytes arrive split or joined anywhere; frames come out
// whole. Malformed input is a value (a reason), never a throw and never a stall: after
// an error the decoder stays failed and the connection is closed by its owner.
//
// No frame is returned before its checksum is verified. The frames that lie whole in one
// received chunk are verified together, with one CRC pass over their bytes (CRC-32 is
// linear: the stored checksums and the bytes between the frames predict that pass's
// result). When the prediction fails, the run is checked frame by frame, so the frames
// before a bad one are returned and the bad one fails the stream, as without the run.
// Errors in two frames of one run could cancel only with the odds of a CRC-32 collision.
import { crc32Range, crc32Update, Crc32Shift } from './crc32.ts';
import {
  FRAME_HEADER_BYTES,
  FRAME_OVERHEAD_BYTES,
  FRAME_VERSION,
  isFrameType,
  MAX_FRAME_LENGTH,
  readU16,
  readU32,
  type Frame,
} from './frame.ts';

/** Why a byte stream is not a frame stream. */
export type DecodeError =
  /** The length field is shorter than a header. */
  | 'bad-length'
  /** The length field exceeds the maximum frame size. */
  | 'too-long'
  | 'bad-version'
  | 'bad-type'
  /** The payload length field disagrees with the frame length. */
  | 'bad-payload-length'
  | 'bad-checksum'
  /** The stream ended in the middle of a frame. */
  | 'truncated';

export const DECODE_ERRORS: readonly DecodeError[] = [
  'bad-length',
  'too-long',
  'bad-version',
  'bad-type',
  'bad-payload-length',
  'bad-checksum',
  'truncated',
];

/** Distinct body lengths a decoder keeps multiplication tables for (4 KiB each). */
const MAX_SHIFTS = 8;

/**
 * The length field of the frame at `at` when a whole, well-formed frame (header checks
 * passed) lies in `buf` there; 0 otherwise.
 */
function wholeFrameAt(buf: Uint8Array, at: number): number {
  if (buf.length - at < FRAME_HEADER_BYTES) return 0;
  const length = readU32(buf, at);
  if (
    length >= FRAME_OVERHEAD_BYTES - 4 &&
    length <= MAX_FRAME_LENGTH &&
    buf.length - at >= 4 + length &&
    buf[at + 4] === FRAME_VERSION &&
    isFrameType(buf[at + 5] as number) &&
    readU32(buf, at + 24) === length - (FRAME_OVERHEAD_BYTES - 4)
  )
    return length;
  return 0;
}

export class FrameDecoder {
  /** Received chunks not yet fully decoded; `head` is the current one, `off` the position in it. */
  private chunks: (Uint8Array | undefined)[] = [];
  private head = 0;
  private off = 0;
  private total = 0;
  private failed: DecodeError | null = null;
  /** The chunk whose frames before `runEnd` were checked as a run, and the outcome. */
  private runChunk: Uint8Array | undefined;
  private runEnd = 0;
  private runOk = false;
  /** Frames whose checksum a run pass verified (the rest were checked one by one). */
  framesCheckedInRuns = 0;
  /** Multiplication tables for the body lengths seen, at most MAX_SHIFTS of them. */
  private readonly shifts = new Map<number, Crc32Shift>();

  /** Appends received bytes (kept, not copied). */
  push(chunk: Uint8Array): void {
    if (this.failed || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Bytes received and not yet part of a returned frame. */
  get buffered(): number {
    return this.total;
  }

  /** The error that stopped this decoder, if any. */
  get error(): DecodeError | null {
    return this.failed;
  }

  /**
   * The next frame, or null: more bytes are needed, or (when `error` is set) the
   * stream is unusable. The frame's payload is a view into the received bytes: only a
   * frame that straddles two chunks is copied.
   */
  next(): Frame | null {
    if (this.failed) return null;
    // Fast path: a whole, well-formed frame in the current chunk.
    const cur = this.chunks[this.head];
    if (cur !== undefined) {
      const at = this.off;
      const length = wholeFrameAt(cur, at);
      if (length > 0) {
        if (cur !== this.runChunk || at >= this.runEnd) this.checkRun(cur, at, length);
        if (this.runOk && cur === this.runChunk && at < this.runEnd) {
          this.framesCheckedInRuns++;
          return this.frameAt(cur, at, length);
        }
        return this.decodeAt(cur, at, length);
      }
    }
    return this.nextSlow();
  }

  /**
   * Checks the frames that lie whole in `buf` from `at` on (the first is `length` long)
   * with one CRC pass, and records the outcome for next().
   */
  private checkRun(buf: Uint8Array, at: number, length: number): void {
    this.runChunk = buf;
    this.runOk = false;
    // Predict the CRC of everything from the first body to the last: each frame's stored
    // checksum, carried over the 8 bytes that follow it and then over the next body.
    let expected = readU32(buf, at + length);
    let end = at + 4 + length;
    let frames = 1;
    for (;;) {
      const next = wholeFrameAt(buf, end);
      if (next <= 0) break;
      const shift = this.shiftFor(next - 4);
      if (!shift) break;
      expected = crc32Update(expected, buf, end - 4, end + 4);
      expected = (shift.apply(expected) ^ readU32(buf, end + next)) >>> 0;
      end += 4 + next;
      frames++;
    }
    this.runEnd = end;
    // A single frame is checked on its own (no gain from a run).
    if (frames > 1) this.runOk = crc32Range(buf, at + 4, end - 4) === expected;
    else this.runEnd = at;
  }

  private shiftFor(bodyBytes: number): Crc32Shift | undefined {
    let shift = this.shifts.get(bodyBytes);
    if (!shift && this.shifts.size < MAX_SHIFTS) {
      shift = new Crc32Shift(bodyBytes);
      this.shifts.set(bodyBytes, shift);
    }
    return shift;
  }

  /** next() for frames that straddle chunks, are incomplete, or are malformed. */
  private nextSlow(): Frame | null {
    if (this.total < 4 || !this.contiguous(4)) return null;
    let buf = this.chunks[this.head] as Uint8Array;
    let at = this.off;
    const length = readU32(buf, at);
    if (length < FRAME_OVERHEAD_BYTES - 4) return this.fail('bad-length');
    if (length > MAX_FRAME_LENGTH) return this.fail('too-long');
    // Check what the header says as soon as it is here, before waiting for a payload.
    if (this.total >= 6 && this.contiguous(6)) {
      buf = this.chunks[this.head] as Uint8Array;
      at = this.off;
      if (buf[at + 4] !== FRAME_VERSION) return this.fail('bad-version');
      if (!isFrameType(buf[at + 5] as number)) return this.fail('bad-type');
    }
    const total = 4 + length;
    if (this.total < FRAME_HEADER_BYTES) return null;
    if (!this.contiguous(this.total < total ? FRAME_HEADER_BYTES : total)) return null;
    buf = this.chunks[this.head] as Uint8Array;
    at = this.off;
    const payloadLength = readU32(buf, at + 24);
    if (payloadLength !== length - (FRAME_OVERHEAD_BYTES - 4))
      return this.fail('bad-payload-length');
    if (this.total < total) return null;
    return this.decodeAt(buf, at, length);
  }

  /** Checks the CRC of the complete frame at `at` and returns it (or fails). */
  private decodeAt(buf: Uint8Array, at: number, length: number): Frame | null {
    if (crc32Range(buf, at + 4, at + length) !== readU32(buf, at + length))
      return this.fail('bad-checksum');
    return this.frameAt(buf, at, length);
  }

  /** The verified frame at `at`, consumed. */
  private frameAt(buf: Uint8Array, at: number, length: number): Frame {
    const frame: Frame = {
      type: buf[at + 5] as Frame['type'],
      flags: readU16(buf, at + 6),
      flowId: readU32(buf, at + 8),
      seq: readU32(buf, at + 12),
      ack: readU32(buf, at + 16),
      window: readU32(buf, at + 20),
      // A plain view (cheaper than subarray, which looks up the species constructor).
      payload: new Uint8Array(
        buf.buffer,
        buf.byteOffset + at + FRAME_HEADER_BYTES,
        length - (FRAME_OVERHEAD_BYTES - 4),
      ),
    };
    this.consume(4 + length);
    return frame;
  }

  /** The stream ended: 'truncated' if a frame was cut off, else null. */
  end(): DecodeError | null {
    if (this.failed) return this.failed;
    if (this.total > 0) {
      this.fail('truncated');
      return 'truncated';
    }
    return null;
  }

  /**
   * Makes the next `n` bytes (n <= total) contiguous in the current chunk, copying only
   * those bytes when they straddle chunks.
   */
  private contiguous(n: number): boolean {
    const cur = this.chunks[this.head] as Uint8Array;
    if (cur.length - this.off >= n) return true;
    if (this.total < n) return false;
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.head] as Uint8Array;
      const take = Math.min(c.length - this.off, n - filled);
      out.set(c.subarray(this.off, this.off + take), filled);
      filled += take;
      this.off += take;
      if (this.off === c.length) {
        this.chunks[this.head] = undefined;
        this.head++;
        this.off = 0;
      }
    }
    // Re-base a partly used chunk; at least the first chunk was used up, so there is
    // a slot before head for the stitched bytes.
    if (this.off > 0) {
      this.chunks[this.head] = (this.chunks[this.head] as Uint8Array).subarray(this.off);
      this.off = 0;
    }
    this.head--;
    this.chunks[this.head] = out;
    return true;
  }

  private consume(n: number): void {
    this.total -= n;
    this.off += n;
    const cur = this.chunks[this.head] as Uint8Array;
    if (this.off === cur.length) {
      this.chunks[this.head] = undefined;
      this.head++;
      this.off = 0;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      } else if (this.head > 64) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    }
  }

  private fail(reason: DecodeError): null {
    this.failed = reason;
    this.runChunk = undefined;
    this.chunks = [];
    this.head = 0;
    this.off = 0;
    this.total = 0;
    return null;
  }
}
