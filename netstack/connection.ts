// One link seen as a frame stream: decodes what arrives (malformed input closes the
// link with a reason, counted, never thrown), encodes and writes frames, and enforces
// the HELLO handshake on the accepting side.
import { takeBytes } from './byte-slab.ts';
import type { DecodeError } from './frame-decoder.ts';
import { FrameDecoder } from './frame-decoder.ts';
import {
  encodedSize,
  encodeFrame,
  encodeFrameInto,
  FRAME_TYPE,
  type Frame,
  type FrameFields,
} from './frame.ts';
import { decodeHello, encodeHello, tokensEqual, type Hello, type Role } from './hello.ts';
import type { Link } from './link.ts';

/** Why a connection was closed by its owner. */
export type CloseReason =
  DecodeError | 'no-hello' | 'bad-hello' | 'bad-token' | 'bad-role' | 'peer-closed' | string;

export interface ConnectionEvents {
  /** A frame after the handshake. */
  frame(frame: Frame): void;
  /** All frames of one received chunk have been delivered (flush ACKs now). */
  batchEnd(): void;
  /** The handshake completed (accepting side: the peer's HELLO was valid). */
  hello(peer: Hello): void;
  /** The connection ended, with the reason. Called once. */
  closed(reason: CloseReason): void;
}

export interface ConnectionOptions {
  /** Our HELLO, sent first. */
  readonly self: Hello;
  /**
   * Defers writing what received chunks caused until `run` is called, so that the ACKs
   * of every chunk read in one event-loop turn go out in one write (nodes pass
   * setImmediate; a socket write on loopback costs tens of microseconds). Without it,
   * they go out at the end of each chunk.
   */
  readonly batchWrites?: (run: () => void) => void;
  /** Accepting side: the token every peer must present, and the roles allowed. */
  readonly expect?: { readonly token: string; readonly roles: readonly Role[] };
}

export class Connection {
  private readonly decoder = new FrameDecoder();
  private peer: Hello | undefined;
  /** Frames collected while a received chunk is processed. */
  private corked = false;
  private out = new Uint8Array(0);
  private outLength = 0;
  private flushPending = false;
  private ended = false;
  /** Frames decoded on this connection. */
  framesIn = 0;

  constructor(
    readonly link: Link,
    private readonly options: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    link.onData = (chunk) => this.receive(chunk);
    link.onClose = (reason) => this.finish(reason === 'closed' ? 'peer-closed' : reason);
    link.write(
      encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello(options.self) }),
    );
  }

  /** The peer's HELLO once received. */
  get peerHello(): Hello | undefined {
    return this.peer;
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * Encodes and writes a frame; false when the link is backed up. While a received
   * chunk is being processed, frames are collected and written together at its end
   * (one write for all the ACKs a chunk causes).
   */
  send(fields: FrameFields): boolean {
    if (this.ended) return false;
    if (this.corked) {
      const size = encodedSize(fields.payload?.length ?? 0);
      this.ensureOut(size);
      this.outLength += encodeFrameInto(fields, this.out, this.outLength);
      // The link's state now, not the last write's answer: a drain may have come since,
      // and a sender told "backed up" waits for a drain that would then never come.
      return !this.link.backedUp;
    }
    return this.link.write(encodeFrame(fields));
  }

  /** Closes the link with a reason. */
  close(reason: CloseReason): void {
    if (this.ended) return;
    this.finish(reason);
    this.link.close(reason);
  }

  private receive(chunk: Uint8Array): void {
    if (this.ended) return;
    const batch = this.options.batchWrites;
    this.corked = true;
    try {
      this.receiveFrames(chunk);
    } finally {
      if (!batch) {
        this.corked = false;
        this.uncork();
      } else if (!this.flushPending) {
        this.flushPending = true;
        batch(() => {
          this.flushPending = false;
          this.corked = false;
          this.uncork();
        });
      }
    }
  }

  private uncork(): void {
    if (this.outLength === 0 || this.ended) {
      this.outLength = 0;
      return;
    }
    const bytes = takeBytes(this.outLength);
    bytes.set(this.out.subarray(0, this.outLength));
    this.outLength = 0;
    this.link.write(bytes);
  }

  private ensureOut(size: number): void {
    if (this.outLength + size <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.out.length * 2, this.outLength + size, 4096));
    next.set(this.out.subarray(0, this.outLength));
    this.out = next;
  }

  private receiveFrames(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    let delivered = false;
    for (;;) {
      const frame = this.decoder.next();
      if (!frame) {
        if (this.decoder.error) {
          this.close(this.decoder.error);
          return;
        }
        break;
      }
      this.framesIn++;
      if (!this.peer) {
        if (!this.acceptHello(frame)) return;
        continue;
      }
      if (frame.type === FRAME_TYPE.HELLO) {
        this.close('bad-hello');
        return;
      }
      delivered = true;
      this.events.frame(frame);
      if (this.ended) return;
    }
    if (delivered) this.events.batchEnd();
  }

  private acceptHello(frame: Frame): boolean {
    if (frame.type !== FRAME_TYPE.HELLO) {
      this.close('no-hello');
      return false;
    }
    const hello = decodeHello(frame.payload);
    if (!hello) {
      this.close('bad-hello');
      return false;
    }
    const expect = this.options.expect;
    if (expect) {
      if (!tokensEqual(hello.token, expect.token)) {
        this.close('bad-token');
        return false;
      }
      if (!expect.roles.includes(hello.role)) {
        this.close('bad-role');
        return false;
      }
    }
    this.peer = hello;
    this.events.hello(hello);
    return true;
  }

  private finish(reason: CloseReason): void {
    if (this.ended) return;
    this.ended = true;
    const end = this.decoder.end();
    this.events.closed(end && reason === 'peer-closed' ? end : reason);
  }
}
