// The ingest benchmark's writer, a process of its own (forked by ingest.ts): it encodes the
// B-style stream once, then for each round connects to the port it is sent and hands the
// whole stream to the socket in one write, so libuv pushes it from the buffer as fast as
// loopback TCP takes it with no JavaScript per chunk. Being another process, none of its
// CPU time is counted to the reader being measured.
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { encodedSize, encodeFrameInto, FRAME_TYPE } from '../../netstack/frame.ts';
import { encodeHello } from '../../netstack/hello.ts';

export const INGEST_TOKEN = 'bench';

/** What the writer is forked with (argv[2], JSON). */
export interface WriterSpec {
  readonly count: number;
  readonly payloadBytes: number;
  readonly flows: number;
}

/** Parent to writer: write the stream to this port (one connection per message). */
export interface WriteRequest {
  readonly port: number;
}

/** Writer to parent: `ready` once the stream is encoded, with its size. */
export interface WriterReady {
  readonly ready: true;
  readonly frames: number;
  readonly bytes: number;
}

/** HELLO, OPEN for `flows` flows, then `count` DATA frames round-robin over them. */
export function makeStream({ count, payloadBytes, flows }: WriterSpec): Buffer {
  const hello = encodeHello({ role: 'b', token: INGEST_TOKEN });
  const size =
    encodedSize(hello.length) + flows * encodedSize(0) + count * encodedSize(payloadBytes);
  const out = Buffer.alloc(size);
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

function main(send: NonNullable<typeof process.send>): void {
  const spec = JSON.parse(process.argv[2] ?? '') as WriterSpec;
  const stream = makeStream(spec);
  process.on('message', (m: WriteRequest) => {
    const s = net.connect({ host: '127.0.0.1', port: m.port }, () => s.end(stream));
    s.resume(); // A's ACKs: read and dropped
    s.on('error', () => {}); // the reader closes the connection when it has counted all
  });
  process.on('disconnect', () => process.exit(0));
  const ready: WriterReady = {
    ready: true,
    frames: spec.count + spec.flows + 1,
    bytes: stream.length,
  };
  send(ready);
}

// Only when forked as the writer: ingest.ts imports this module's token and types.
if (process.send && import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  main(process.send.bind(process));
