// A streaming frame decoder: bytes arrive split or joined anywhere; frames come out
// whole. Malformed input is a value (a reason), never a throw and never a stall: after
// an error the decoder stays failed and the connection is closed by its owner.
import {
  checksum,
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

export class FrameDecoder {
  /** Received chunks not yet fully decoded; `head` is the current one, `off` the position in it. */
  private chunks: (Uint8Array | undefined)[] = [];
  private head = 0;
  private off = 0;
  private total = 0;
  private failed: DecodeError | null = null;

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
    if (cur !== undefined && cur.length - this.off >= FRAME_HEADER_BYTES) {
      const at = this.off;
      const length = readU32(cur, at);
      if (
        length >= FRAME_OVERHEAD_BYTES - 4 &&
        length <= MAX_FRAME_LENGTH &&
        cur.length - at >= 4 + length &&
        cur[at + 4] === FRAME_VERSION &&
        isFrameType(cur[at + 5] as number) &&
        readU32(cur, at + 24) === length - (FRAME_OVERHEAD_BYTES - 4)
      ) {
        return this.decodeAt(cur, at, length);
      }
    }
    return this.nextSlow();
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
    const bodyEnd = at + length;
    if (checksum(buf.subarray(at + 4, bodyEnd)) !== readU32(buf, bodyEnd))
      return this.fail('bad-checksum');
    const frame: Frame = {
      type: buf[at + 5] as Frame['type'],
      flags: readU16(buf, at + 6),
      flowId: readU32(buf, at + 8),
      seq: readU32(buf, at + 12),
      ack: readU32(buf, at + 16),
      window: readU32(buf, at + 20),
      payload: buf.subarray(at + FRAME_HEADER_BYTES, bodyEnd),
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
    this.chunks = [];
    this.head = 0;
    this.off = 0;
    this.total = 0;
    return null;
  }
}
