// Connection's answer to "can I send more?" must be the link's state at the time, also
// while a received chunk is being processed (frames are collected and written at its
// end): a sender told "backed up" waits for a drain, and a drain that already came
// never comes again.
import { describe, expect, it } from 'vitest';
import { Connection } from '../../netstack/connection.ts';
import { encodeFrame, FRAME_TYPE, type Frame } from '../../netstack/frame.ts';
import { encodeHello } from '../../netstack/hello.ts';
import { noop, type Link } from '../../netstack/link.ts';

/** A link whose socket buffer is full or not, as the test says. */
class FakeLink implements Link {
  onData: (chunk: Uint8Array) => void = noop;
  onDrain: () => void = noop;
  onClose: (reason: string) => void = noop;
  readonly label = 'fake';
  closed = false;
  backedUp = false;
  /** Whether the next writes find the buffer full. */
  full = false;
  writes: Uint8Array[] = [];

  write(bytes: Uint8Array): boolean {
    this.writes.push(bytes);
    this.backedUp = this.full;
    return !this.full;
  }

  close(): void {
    this.closed = true;
  }

  /** The buffer empties: the drain event. */
  drain(): void {
    this.full = false;
    this.backedUp = false;
    this.onDrain();
  }
}

const TOKEN = 't0ken';

function connected(): {
  link: FakeLink;
  conn: Connection;
  onFrame: (fn: (f: Frame) => void) => void;
} {
  const link = new FakeLink();
  let handler: (f: Frame) => void = noop;
  const conn = new Connection(
    link,
    { self: { role: 'a', token: TOKEN }, expect: { token: TOKEN, roles: ['c'] } },
    { frame: (f) => handler(f), batchEnd: noop, hello: noop, closed: noop },
  );
  link.onData(
    encodeFrame({
      type: FRAME_TYPE.HELLO,
      flowId: 0,
      payload: encodeHello({ role: 'c', token: TOKEN }),
    }),
  );
  return { link, conn, onFrame: (fn) => (handler = fn) };
}

const ack = { type: FRAME_TYPE.ACK, flowId: 1, ack: 0, window: 1000 } as const;

describe('Connection: backed up is the link state now', () => {
  it('a send while a chunk is processed reports the link drained since the last full write', () => {
    const { link, conn, onFrame } = connected();
    link.full = true;
    expect(conn.send(ack)).toBe(false);
    link.drain();
    let answer: boolean | undefined;
    onFrame(() => (answer = conn.send(ack)));
    link.onData(encodeFrame(ack));
    expect(answer).toBe(true);
    // The collected frame went out at the end of the chunk.
    expect(link.writes.length).toBe(3);
  });

  it('a send while a chunk is processed reports a link still backed up', () => {
    const { link, conn, onFrame } = connected();
    link.full = true;
    expect(conn.send(ack)).toBe(false);
    let answer: boolean | undefined;
    onFrame(() => (answer = conn.send(ack)));
    link.onData(encodeFrame(ack));
    expect(answer).toBe(false);
  });

  it('outside a chunk, the answer is the write itself', () => {
    const { link, conn } = connected();
    expect(conn.send(ack)).toBe(true);
    link.full = true;
    expect(conn.send(ack)).toBe(false);
    link.drain();
    expect(conn.send(ack)).toBe(true);
  });
});
