// Ingest benchmark: B-style frames through A's whole receive path over a real loopback
// connection (decode, checksum, skb allocation, demux, TCP, queue, the service reading,
// ACKs), and in the same run the same bytes through a bare socket reader that only
// walks the length prefixes. ratio = A's frame rate / the bare reader's.
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { AStack } from '../../netstack/a-stack.ts';
import { Connection } from '../../netstack/connection.ts';
import { ERA_KNOBS } from '../../netstack/era.ts';
import { encodedSize, encodeFrameInto, FRAME_TYPE, readU32 } from '../../netstack/frame.ts';
import { encodeHello } from '../../netstack/hello.ts';
import { DEFAULT_MEMORY_CONFIG, MemoryModel } from '../../reserve/memory-model.ts';
import type { Scheduler } from '../../reserve/clock.ts';

export interface IngestResult {
  readonly frameBytes: number;
  readonly framesPerSecond: number;
  readonly rawFramesPerSecond: number;
  readonly ratio: number;
}

const TOKEN = 'bench';

/** HELLO, OPEN for `flows` flows, then `count` DATA frames round-robin over them. */
function makeStream(count: number, payloadBytes: number, flows: number): Uint8Array {
  const hello = encodeHello({ role: 'b', token: TOKEN });
  const size =
    encodedSize(hello.length) + flows * encodedSize(0) + count * encodedSize(payloadBytes);
  const out = new Uint8Array(size);
  let at = encodeFrameInto({ type: FRAME_TYPE.HELLO, flowId: 0, payload: hello }, out, 0);
  for (let f = 0; f < flows; f++)
    at += encodeFrameInto({ type: FRAME_TYPE.OPEN, flowId: f + 1 }, out, at);
  const payload = new Uint8Array(payloadBytes).fill(0x5a);
  const seq = new Array<number>(flows).fill(0);
  for (let i = 0; i < count; i++) {
    const f = i % flows;
    at += encodeFrameInto(
      { type: FRAME_TYPE.DATA, flowId: f + 1, seq: seq[f] as number, window: 1 << 20, payload },
      out,
      at,
    );
    seq[f] = (seq[f] as number) + payloadBytes;
  }
  return out;
}

/** A writer on its own thread: connects and writes the stream as fast as TCP takes it. */
function startWriter(port: number, stream: Uint8Array): Worker {
  const code = `
    const { workerData } = require('node:worker_threads');
    const net = require('node:net');
    const buf = Buffer.from(workerData.stream.buffer, workerData.stream.byteOffset, workerData.stream.length);
    const s = net.connect({ host: '127.0.0.1', port: workerData.port }, () => {
      const chunk = 256 * 1024;
      let at = 0;
      const pump = () => {
        while (at < buf.length) {
          const ok = s.write(buf.subarray(at, Math.min(at + chunk, buf.length)));
          at += chunk;
          if (!ok) return s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    s.on('data', () => {});
    s.on('error', () => {});
  `;
  // Each run gets its own copy, moved (not cloned) to the writer thread.
  const copy = stream.slice();
  return new Worker(code, {
    eval: true,
    workerData: { port, stream: copy },
    transferList: [copy.buffer],
  });
}

/** The real-time scheduler of a node (nodes/ has the full one; this is all the bench needs). */
const realTime: Scheduler = {
  now: () => performance.now(),
  schedule: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Frames/s through A's receive path. */
async function throughA(stream: Uint8Array, expected: number): Promise<number> {
  const model = new MemoryModel(
    { ...DEFAULT_MEMORY_CONFIG, ramPages: 65536, swapPages: 1024 },
    realTime,
  );
  const stack = new AStack({ model, era: ERA_KNOBS.modern });
  return new Promise((resolve, reject) => {
    let delivered = 0;
    let start = 0;
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      socket.once('data', () => (start = performance.now()));
      const link = {
        label: 'bench',
        closed: false,
        get backedUp() {
          return socket.writableNeedDrain;
        },
        onData: (_c: Uint8Array) => {},
        onDrain: () => {},
        onClose: (_r: string) => {},
        write: (b: Uint8Array) => socket.write(b),
        close: () => socket.destroy(),
      };
      socket.on('data', (c: Buffer) =>
        link.onData(new Uint8Array(c.buffer, c.byteOffset, c.length)),
      );
      socket.on('error', () => {});
      const aconn = stack.attach({ send: (f) => connection.send(f) });
      const connection = new Connection(
        link,
        {
          self: { role: 'a', token: TOKEN },
          expect: { token: TOKEN, roles: ['b'] },
          batchWrites: (run) => setImmediate(run),
        },
        {
          hello: () => {},
          frame: (f) => stack.receive(aconn, f),
          batchEnd: () => {
            // The service consumes what arrived, then A sends its ACKs.
            for (const s of aconn.sockets.values()) while (s.read()) delivered++;
            stack.flush(aconn);
            if (delivered >= expected) {
              const elapsed = (performance.now() - start) / 1000;
              server.close();
              socket.destroy();
              resolve(delivered / elapsed);
            }
          },
          closed: (reason) => {
            if (delivered < expected)
              reject(new Error(`A closed after ${delivered} frames: ${reason}`));
          },
        },
      );
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      const w = startWriter(port, stream);
      w.on('error', reject);
    });
  });
}

/** Frames/s for a reader that only walks the length prefixes. */
async function bare(stream: Uint8Array, expected: number): Promise<number> {
  return new Promise((resolve) => {
    let frames = 0;
    let start = 0;
    let pending: Uint8Array = new Uint8Array(0);
    const server = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        if (start === 0) start = performance.now();
        let buf: Uint8Array = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
        if (pending.length > 0) {
          buf = new Uint8Array(pending.length + chunk.length);
          buf.set(pending);
          buf.set(chunk, pending.length);
        }
        let at = 0;
        while (buf.length - at >= 4) {
          const len = readU32(buf, at);
          if (buf.length - at < 4 + len) break;
          at += 4 + len;
          frames++;
        }
        pending = buf.subarray(at);
        if (frames >= expected) {
          const elapsed = (performance.now() - start) / 1000;
          server.close();
          socket.destroy();
          resolve(frames / elapsed);
        }
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () =>
      startWriter((server.address() as net.AddressInfo).port, stream),
    );
  });
}

export async function benchIngest(
  frameBytes = 1024,
  count = 100_000,
  rounds = 6,
): Promise<IngestResult> {
  const flows = 64;
  const stream = makeStream(count, frameBytes, flows);
  const total = count + flows + 1;
  let bestA = 0;
  let bestRaw = 0;
  for (let i = 0; i < rounds; i++) {
    bestRaw = Math.max(bestRaw, await bare(stream, total));
    bestA = Math.max(bestA, await throughA(stream, count));
  }
  return {
    frameBytes,
    framesPerSecond: Math.round(bestA),
    rawFramesPerSecond: Math.round(bestRaw),
    ratio: Number((bestA / bestRaw).toFixed(3)),
  };
}
