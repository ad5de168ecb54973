// Frame fuzzing over real sockets, against a real topology (C, A pointed at C, B pointed
// at A), with fast-check and fixed seeds: 10,000 cases in all.
// - A's service port, one connection per case after a valid HELLO: random bytes, valid
//   frames bit-flipped, cut short or followed by garbage. A closes each stream where the
//   frame decoder says it is malformed, and counts exactly that, by reason.
// - A's service port, one long-lived connection: well-formed frames with arbitrary fields
//   (any type but HELLO, flags, flows, seq, ack, window, payload). A never closes it, every
//   frame A sends back decodes, and A still answers a new flow afterwards.
// - C's swap port, one connection per case: random bytes and plausible headers.
// Through all of it no node exits, /healthz stays ok, and B's traffic keeps flowing.
import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../netstack/frame-decoder.ts';
import { encodeFrame, FRAME_TYPE, writeU32, type FrameFields } from '../../netstack/frame.ts';
import { encodeHello, type Role } from '../../netstack/hello.ts';
import { hostPort, httpGet, useLightTopology, WAIT_MS } from '../helpers/light-topology.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { parsePromText } from '../helpers/prom-text.ts';

const TOKEN = 'frame-fuzz-token';
const SEED = 0xf022;
const A_STREAMS = 3000;
const A_FRAME_BATCHES = 6000;
const C_STREAMS = 1000;

const node = useLightTopology({ token: TOKEN, sets: ['service.workingSetMiB=4'] });

const hello = (role: Role): Uint8Array =>
  encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello({ role, token: TOKEN }) });

/** A raw connection: collects what the node sends, settles `closed` once it is gone. */
interface Peer {
  readonly socket: net.Socket;
  readonly received: Buffer[];
  readonly closed: Promise<void>;
}

function connect(address: string | undefined): Promise<Peer> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', () => {}); // a reset after the node refused the stream: expected
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, received, closed }));
    void closed.then(() => reject(new Error(`could not connect to ${address}`)));
  });
}

function write(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(bytes, (err) => (err ? reject(err) : resolve())),
  );
}

async function closedWithin(peer: Peer, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not closed within ${WAIT_MS} ms`)),
      WAIT_MS,
    );
  });
  try {
    await Promise.race([peer.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The node's edge counters by series (connections by result, frame errors by reason). */
async function edge(n: NodeProcess): Promise<Map<string, number>> {
  const prom = parsePromText((await httpGet(n, '/metrics')).body);
  const out = new Map<string, number>();
  for (const s of prom.samples) {
    if (s.name === 'swapnet_connections_total') out.set(`connections:${s.labels.result}`, s.value);
    if (s.name === 'swapnet_frame_errors_total') out.set(`errors:${s.labels.reason}`, s.value);
  }
  return out;
}

/**
 * Polls /metrics until the counters moved by `expected` since `before` (a node counts a
 * stream when its side of the close is handled, which may be just after ours).
 */
async function expectMoved(
  n: NodeProcess,
  before: Map<string, number>,
  expected: Map<string, number>,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let moved: Record<string, number> = {};
  for (;;) {
    const after = await edge(n);
    moved = {};
    for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) moved[k] = v - (before.get(k) ?? 0);
    const want = Object.fromEntries([...expected].filter(([, v]) => v !== 0));
    if (JSON.stringify(sorted(moved)) === JSON.stringify(sorted(want)) || Date.now() > deadline) {
      expect(sorted(moved)).toEqual(sorted(want));
      return;
    }
  }
}

const sorted = (o: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

async function expectHealthy(n: NodeProcess): Promise<void> {
  const h = await httpGet(n, '/healthz');
  expect(h.status, `${n.ready.node} /healthz: ${h.body}`).toBe(200);
  expect(n.child.exitCode).toBeNull();
}

/**
 * What the node must do with `bytes` sent after an accepted HELLO, then the end of the
 * stream: the counter it moves (a second HELLO is refused; a malformed or cut-off frame
 * is a frame error by reason), or none.
 */
function expectedCount(bytes: Uint8Array): string | undefined {
  const d = new FrameDecoder();
  d.push(bytes);
  for (let f = d.next(); f; f = d.next()) {
    if (f.type === FRAME_TYPE.HELLO) return 'connections:refused-bad-hello';
  }
  const error = d.end();
  return error ? `errors:${error}` : undefined;
}

// ---- the inputs ----

const fieldsArb = (types: readonly number[]): fc.Arbitrary<FrameFields> =>
  fc.record({
    type: fc.constantFrom(...types) as fc.Arbitrary<FrameFields['type']>,
    flags: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.nat(0xffff)),
    flowId: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.nat(0xffffffff)),
    seq: fc.oneof(fc.constantFrom(0, 1024, 2048), fc.nat(0xffffffff)),
    ack: fc.oneof(fc.constant(0), fc.nat(0xffffffff)),
    window: fc.oneof(fc.constantFrom(0, 65535, 1 << 20), fc.nat(0xffffffff)),
    payload: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2048 })),
  });

const ANY_TYPE = Object.values(FRAME_TYPE);

/** Valid frames, then bit flips, a cut, or a garbage tail (or nothing: a valid stream). */
const mutatedFramesArb = fc
  .record({
    frames: fc.array(fieldsArb(ANY_TYPE), { minLength: 1, maxLength: 4 }),
    flips: fc.array(fc.record({ at: fc.nat(), bit: fc.nat(7) }), { maxLength: 3 }),
    cut: fc.option(fc.nat()),
    tail: fc.uint8Array({ maxLength: 40 }),
  })
  .map(({ frames, flips, cut, tail }) => {
    let bytes = Buffer.concat([...frames.map((f) => encodeFrame(f)), tail]);
    for (const { at, bit } of flips) {
      const i = at % bytes.length;
      bytes[i] = (bytes[i] as number) ^ (1 << bit);
    }
    if (cut !== null) bytes = bytes.subarray(0, cut % (bytes.length + 1));
    return new Uint8Array(bytes);
  });

/** A length, version and type that pass the first checks, then random bytes. */
const plausibleArb = fc
  .record({ length: fc.integer({ min: 0, max: 70_000 }), rest: fc.uint8Array({ maxLength: 300 }) })
  .map(({ length, rest }) => {
    const bytes = new Uint8Array(8 + rest.length);
    writeU32(bytes, 0, length);
    bytes[4] = 1;
    bytes[5] = FRAME_TYPE.DATA;
    bytes.set(rest, 8);
    return bytes;
  });

const randomArb = fc.uint8Array({ minLength: 1, maxLength: 300 });

/**
 * Sends each generated stream on a connection of its own after a valid HELLO, ends it,
 * waits for the close; then checks the node counted every outcome exactly.
 */
async function fuzzStreams(
  n: NodeProcess,
  port: string,
  role: Role,
  arb: fc.Arbitrary<Uint8Array>,
  numRuns: number,
): Promise<void> {
  const before = await edge(n);
  const expected = new Map<string, number>([['connections:accepted', 0]]);
  const bump = (k: string): void => void expected.set(k, (expected.get(k) ?? 0) + 1);
  await fc.assert(
    fc.asyncProperty(arb, async (bytes) => {
      const peer = await connect(n.ready.listen[port]);
      await write(peer.socket, Buffer.concat([hello(role), bytes])).catch(() => {});
      peer.socket.end();
      await closedWithin(peer, `${n.ready.node} ${port}`);
      bump('connections:accepted');
      const count = expectedCount(bytes);
      if (count) bump(count);
    }),
    { seed: SEED, numRuns, endOnFailure: true },
  );
  console.log(`${n.ready.node} ${port}: ${JSON.stringify(Object.fromEntries(expected))}`);
  await expectMoved(n, before, expected);
  await expectHealthy(n);
}

describe(`frame fuzzing over real sockets (seed ${SEED})`, () => {
  it(`A's service port: ${A_STREAMS} mutated or random streams, each closed and counted by reason`, async () => {
    await fuzzStreams(
      node('a'),
      'service',
      'b',
      fc.oneof(mutatedFramesArb, plausibleArb, randomArb),
      A_STREAMS,
    );
  });

  it(`A's service port: ${A_FRAME_BATCHES} batches of well-formed frames with arbitrary fields on one connection`, async () => {
    const a = node('a');
    const before = await edge(a);
    const peer = await connect(a.ready.listen.service);
    await write(peer.socket, hello('b'));
    const types = ANY_TYPE.filter((t) => t !== FRAME_TYPE.HELLO);
    await fc.assert(
      fc.asyncProperty(fc.array(fieldsArb(types), { minLength: 1, maxLength: 8 }), async (fs) => {
        await write(peer.socket, Buffer.concat(fs.map((f) => encodeFrame(f))));
      }),
      { seed: SEED, numRuns: A_FRAME_BATCHES, endOnFailure: true },
    );
    // A still answers on this connection: a new flow's OPEN gets its reply.
    const probe = 0x7ffffff0;
    await write(peer.socket, encodeFrame({ type: FRAME_TYPE.OPEN, flowId: probe, window: 65535 }));
    const decoder = new FrameDecoder();
    let consumed = 0;
    const answered = async (): Promise<boolean> => {
      for (; consumed < peer.received.length; consumed++) decoder.push(peer.received[consumed]!);
      for (let f = decoder.next(); f; f = decoder.next()) if (f.flowId === probe) return true;
      expect(decoder.error).toBeNull();
      return false;
    };
    const deadline = Date.now() + WAIT_MS;
    while (!(await answered())) {
      const left = deadline - Date.now();
      expect(left, 'no answer to the OPEN on a new flow').toBeGreaterThan(0);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        peer.socket.once('data', () => (clearTimeout(timer), r()));
      });
    }
    expect(peer.socket.destroyed).toBe(false);
    peer.socket.end();
    await closedWithin(peer, 'A service');
    await expectMoved(a, before, new Map([['connections:accepted', 1]]));
    await expectHealthy(a);
  });

  it(`C's swap port: ${C_STREAMS} random streams and plausible headers, each closed and counted`, async () => {
    await fuzzStreams(node('c'), 'swap', 'a', fc.oneof(plausibleArb, randomArb), C_STREAMS);
  });

  it('afterwards the topology still works: A swaps to C, B keeps its data flowing', async () => {
    const status = async (n: NodeProcess): Promise<Record<string, unknown>> =>
      JSON.parse((await httpGet(n, '/status')).body) as Record<string, unknown>;
    const b0 = (await status(node('b'))) as { bytesAcked: number; reconnects: number };
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const b = (await status(node('b'))) as { bytesAcked: number; reconnects: number };
      if (b.bytesAcked > b0.bytesAcked) {
        expect(b.reconnects).toBe(b0.reconnects);
        break;
      }
      // Each read is a round trip to B: no sleep needed between them.
      expect(Date.now(), 'B acknowledged nothing').toBeLessThan(deadline);
    }
    const a = (await status(node('a'))) as { swap: { connected: boolean; reconnects: number } };
    expect(a.swap).toMatchObject({ connected: true, reconnects: 0 });
    for (const n of ['a', 'b', 'c'] as const) await expectHealthy(node(n));
  });
});
