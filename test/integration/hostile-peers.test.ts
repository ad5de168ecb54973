// Hostile peers against a real topology (C, A pointed at C, B pointed at A): random
// bytes, a 70 KB length prefix, HTTP where frames are expected, garbage and oversized
// headers where HTTP is expected, frames sent one byte at a time and abandoned, and a
// peer that says nothing. On every listening port of every node, each input is refused
// with the right counter moved by exactly one, the node stays healthy, and the topology
// keeps working. Peers that hold a connection open without a whole HELLO (silent, or a
// HELLO's first bytes) are closed at the HELLO deadline and each counted once. Waits on
// socket events and log lines, never on sleeps.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../netstack/frame-decoder.ts';
import { encodeFrame, FRAME_TYPE, writeU32 } from '../../netstack/frame.ts';
import { encodeHello, type Role } from '../../netstack/hello.ts';
import { createRng } from '../../reserve/rng.ts';
import {
  hostPort,
  httpGet,
  LIGHT_FLOOD_CONNECTIONS,
  startLightTopology,
  WAIT_MS,
  type LightTopology,
} from '../helpers/light-topology.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { parsePromText, seriesKey } from '../helpers/prom-text.ts';

const TOKEN = 'hostile-peers-token';
/** Shortened (SWAPNET_HELLO_TIMEOUT_MS) so the silent peer costs two seconds, not five. */
const HELLO_TIMEOUT_MS = 2000;
/** Seed of the random inputs: printed in every random test's name. */
const SEED = 0x5eed;

type NodeName = 'a' | 'b' | 'c';
let topology: LightTopology | undefined;
const node = (name: NodeName): NodeProcess => {
  if (!topology) throw new Error('the topology did not start');
  return topology[name];
};
const peers = new Set<RawPeer>();

interface Baseline {
  readonly swapReconnects: number;
  readonly bReconnects: number;
  readonly bBytesAcked: number;
}
let baseline: Baseline;

beforeAll(async () => {
  topology = await startLightTopology({
    token: TOKEN,
    // A service that fits in A's RAM: nothing but the hostile peers happens.
    sets: ['service.workingSetMiB=4'],
    env: { SWAPNET_HELLO_TIMEOUT_MS: String(HELLO_TIMEOUT_MS) },
  });
  const aStatus = (await getJson(node('a'), '/status')) as AStatus;
  const bStatus = (await getJson(node('b'), '/status')) as BStatus;
  baseline = {
    swapReconnects: aStatus.swap.reconnects,
    bReconnects: bStatus.reconnects,
    bBytesAcked: bStatus.bytesAcked,
  };
}, 60_000);

afterAll(async () => {
  for (const p of peers) p.socket.destroy();
  peers.clear();
  await topology?.stop();
});

interface AStatus {
  readonly swap: { readonly connected: boolean; readonly reconnects: number };
  readonly connections: { readonly b: number; readonly swap: number };
}
interface BStatus {
  readonly connections: { readonly configured: number; readonly open: number };
  readonly reconnects: number;
  readonly bytesAcked: number;
}

async function getJson(n: NodeProcess, pathname: string): Promise<unknown> {
  const r = await httpGet(n, pathname);
  expect(r.status, `${n.ready.node} GET ${pathname}: ${r.body}`).toBe(200);
  return JSON.parse(r.body);
}

/** The counters a node keeps at its edges, by series (without the node label). */
const EDGE_COUNTERS = [
  'swapnet_connections_total',
  'swapnet_frame_errors_total',
  'swapnet_http_bad_requests_total',
] as const;

async function edgeCounters(n: NodeProcess): Promise<Map<string, number>> {
  const r = await httpGet(n, '/metrics');
  expect(r.status).toBe(200);
  const prom = parsePromText(r.body);
  return new Map(EDGE_COUNTERS.flatMap((name) => [...prom.series(name, ['node'])]));
}

function diff(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/**
 * What the edge counters moved by since `before`. The server counts before it closes the
 * socket, but a stream we ended is counted when the server sees its own close, so this
 * reads /metrics again (each read a round trip, no sleep) until something moved.
 */
async function movedSince(n: NodeProcess, before: Map<string, number>): Promise<object> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const moved = diff(before, await edgeCounters(n));
    if (Object.keys(moved).length > 0 || Date.now() > deadline) return moved;
  }
}

const frameErrors = (reason: string): string => seriesKey('swapnet_frame_errors_total', { reason });
const connections = (result: string): string => seriesKey('swapnet_connections_total', { result });
const httpBadRequests = seriesKey('swapnet_http_bad_requests_total', {});

/** A raw TCP peer: writes whatever it is told and records what comes back until close. */
class RawPeer {
  private readonly chunks: Buffer[] = [];
  private peerEnded = false;
  private onData: () => void = () => {};
  /** The socket error, if the connection ended with one (a reset, typically). */
  error: string | undefined;
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: net.Socket,
    private readonly halfOpen: boolean,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.onData();
    });
    socket.on('end', () => (this.peerEnded = true));
    socket.on('error', (err: NodeJS.ErrnoException) => (this.error ??= err.code ?? err.message));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /**
   * Connects to `address`. A `halfOpen` peer keeps writing after the server's FIN (a peer
   * that ignores being refused) and must end() itself for the connection to close.
   */
  static connect(address: string | undefined, halfOpen = false): Promise<RawPeer> {
    const { host, port } = hostPort(address);
    return new Promise((resolve, reject) => {
      const peer = new RawPeer(net.connect({ host, port, allowHalfOpen: halfOpen }), halfOpen);
      peers.add(peer);
      peer.socket.once('connect', () => resolve(peer));
      void peer.closed.then(() => reject(new Error(`could not connect to ${address}`)));
    });
  }

  /** Resolves once the server has sent something (or the connection is gone). */
  answered(): Promise<void> {
    if (this.chunks.length > 0 || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.onData = resolve;
      void this.closed.then(() => resolve());
    });
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** True while this side may still write (a half-open peer ignores the server's FIN). */
  get open(): boolean {
    return (this.halfOpen || !this.peerEnded) && !this.socket.destroyed && this.socket.writable;
  }

  /** Writes `bytes`; resolves once handed to the kernel, false if the socket is gone. */
  write(bytes: Uint8Array): Promise<boolean> {
    if (!this.open) return Promise.resolve(false);
    return new Promise((resolve) => this.socket.write(bytes, (err) => resolve(!err)));
  }

  /** Writes one byte at a time, each its own segment; returns how many were written. */
  async writeBytewise(bytes: Uint8Array): Promise<number> {
    for (let i = 0; i < bytes.length; i++) {
      if (!(await this.write(bytes.subarray(i, i + 1)))) return i;
    }
    return bytes.length;
  }

  /** Half-closes (FIN) if still open. */
  end(): void {
    if (this.open) this.socket.end();
  }

  /** Resolves once the socket is closed; fails the test after WAIT_MS. */
  async waitClosed(what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: the server did not close within ${WAIT_MS} ms`)),
        WAIT_MS,
      );
    });
    try {
      await Promise.race([this.closed, deadline]);
    } finally {
      clearTimeout(timer);
      peers.delete(this);
    }
  }
}

/**
 * Connects to `port` of `name`, runs `send`, waits for the connection to close, then
 * checks that exactly `expected` moved on the node's edge counters and that it is healthy.
 */
async function hostile(
  name: NodeName,
  port: string,
  send: (p: RawPeer) => Promise<void>,
  expected: Record<string, number>,
  options: { readonly halfOpen?: boolean } = {},
): Promise<RawPeer> {
  const n = node(name);
  const before = await edgeCounters(n);
  const peer = await RawPeer.connect(n.ready.listen[port], options.halfOpen);
  await send(peer);
  await peer.waitClosed(`${name} ${port}`);
  expect(await movedSince(n, before), `counters of ${name} after input on ${port}`).toEqual(
    expected,
  );
  const health = await httpGet(n, '/healthz');
  expect(health.status, `${name} /healthz: ${health.body}`).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ ok: true });
  expect(n.child.exitCode).toBeNull();
  return peer;
}

// ---- the inputs ----

const rng = createRng(SEED);
const randomBytes = (length: number): Uint8Array => Uint8Array.from({ length }, () => rng.int(256));

/** A header that passes the length, version and type checks, then random bytes. */
function plausibleThenRandom(length: number): Uint8Array {
  const bytes = randomBytes(length);
  writeU32(bytes, 0, length - 4);
  bytes[4] = 1;
  bytes[5] = FRAME_TYPE.DATA;
  return bytes;
}

const RANDOM_INPUTS = [
  { what: '1 random byte', bytes: randomBytes(1) },
  { what: '4096 random bytes', bytes: randomBytes(4096) },
  { what: 'a plausible header and 200 random bytes', bytes: plausibleThenRandom(200) },
];

/** What the frame decoder says of `bytes` followed by the end of the stream. */
function decodeError(bytes: Uint8Array): string {
  const d = new FrameDecoder();
  d.push(bytes);
  if (d.next()) throw new Error(`seed ${SEED} made a valid frame: choose another seed`);
  return d.error ?? 'truncated';
}

/** u32 big-endian 70 000 (past the 64 KiB frame bound) and a few header bytes. */
const LENGTH_70KB = Uint8Array.of(0, 0x01, 0x11, 0x70, 1, FRAME_TYPE.DATA, 0, 0);

const hello = (role: Role): Uint8Array =>
  encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello({ role, token: TOKEN }) });

const dataFrame = (): Uint8Array =>
  encodeFrame({ type: FRAME_TYPE.DATA, flowId: 7, seq: 0, payload: new Uint8Array(100).fill(7) });

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---- frame ports ----

const FRAME_PORTS = [
  { name: 'a', port: 'service', role: 'b' },
  { name: 'c', port: 'swap', role: 'a' },
] as const;

describe.each(FRAME_PORTS)('frame port $port of node $name', ({ name, port, role }) => {
  for (const input of RANDOM_INPUTS) {
    const reason = decodeError(input.bytes);
    it(`${input.what} (seed ${SEED}): closed, counted as ${reason}`, async () => {
      await hostile(
        name,
        port,
        async (p) => {
          await p.write(input.bytes);
          p.end();
        },
        { [frameErrors(reason)]: 1 },
      );
    });
  }

  it('a 70 KB length prefix: closed at once (no wait for the payload), counted as too-long', async () => {
    // The stream is never ended from this side: the server must close it by itself.
    await hostile(name, port, (p) => p.write(LENGTH_70KB).then(() => {}), {
      [frameErrors('too-long')]: 1,
    });
  });

  it('an HTTP request: closed by the server, counted as too-long', async () => {
    await hostile(
      name,
      port,
      (p) => p.write(ascii('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).then(() => {}),
      { [frameErrors('too-long')]: 1 },
    );
  });

  it('a HELLO sent byte by byte and abandoned two bytes short: counted as truncated', async () => {
    const frame = hello(role);
    await hostile(
      name,
      port,
      async (p) => {
        // The server waits for the rest: every byte goes through before the FIN.
        expect(await p.writeBytewise(frame.subarray(0, frame.length - 2))).toBe(frame.length - 2);
        p.end();
      },
      { [frameErrors('truncated')]: 1 },
    );
  });

  it('a valid HELLO, then a data frame byte by byte, abandoned: accepted, then truncated', async () => {
    const frame = dataFrame();
    await hostile(
      name,
      port,
      async (p) => {
        await p.write(hello(role));
        expect(await p.writeBytewise(frame.subarray(0, frame.length - 3))).toBe(frame.length - 3);
        p.end();
      },
      { [connections('accepted')]: 1, [frameErrors('truncated')]: 1 },
    );
  });

  it('a valid HELLO, then a frame with a bad checksum: closed by the server, counted', async () => {
    const frame = dataFrame();
    frame[frame.length - 1] = (frame[frame.length - 1] as number) ^ 0xff;
    await hostile(
      name,
      port,
      async (p) => {
        await p.write(hello(role));
        await p.write(frame);
      },
      { [connections('accepted')]: 1, [frameErrors('bad-checksum')]: 1 },
    );
  });

  it('a peer that sends nothing: closed after the HELLO timeout, counted', async () => {
    const started = Date.now();
    await hostile(name, port, async () => {}, { [connections('refused-hello-timeout')]: 1 });
    // Timers never fire early; allow for the two processes' clocks being read apart.
    expect(Date.now() - started).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 50);
  });

  it('peers that hold their connection open without a whole HELLO: each timed out and counted once', async () => {
    // Four silent, four that send a HELLO's first bytes and stop, all at once, none
    // ending its side: only the node's HELLO deadline closes them.
    const n = node(name);
    const before = await edgeCounters(n);
    const frame = hello(role);
    const held = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const p = await RawPeer.connect(n.ready.listen[port]);
        if (i % 2 === 1) expect(await p.writeBytewise(frame.subarray(0, 7))).toBe(7);
        return p;
      }),
    );
    await Promise.all(held.map((p, i) => p.waitClosed(`${name} ${port} held peer ${i}`)));
    expect(await movedSince(n, before)).toEqual({ [connections('refused-hello-timeout')]: 8 });
    const health = await httpGet(n, '/healthz');
    expect(health.status, `${name} /healthz: ${health.body}`).toBe(200);
  });
});

// ---- HTTP ports ----

/** The server answered with a 4xx, or reset the connection before the answer arrived. */
function expectRefusedHttp(p: RawPeer, status: RegExp = /^4\d\d$/): void {
  const text = p.received.toString('latin1');
  if (text === '') {
    expect(['ECONNRESET', 'EPIPE']).toContain(p.error);
    return;
  }
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  expect(m?.[1], `answer: ${text.slice(0, 200)}`).toMatch(status);
}

const HTTP_INPUTS: readonly { what: string; bytes: Uint8Array }[] = [
  { what: `4096 random bytes (seed ${SEED})`, bytes: randomBytes(4096) },
  { what: 'a 70 KB length prefix', bytes: LENGTH_70KB },
  { what: 'garbage that is not HTTP', bytes: ascii('\x16\x03\x01\x00 hello? not http\r\n\r\n') },
  {
    what: 'a request with a 20 KB header',
    bytes: ascii(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
  },
  {
    what: 'a request with an invalid header line',
    bytes: ascii('GET /healthz HTTP/1.1\r\nHost: x\r\nNot A Header\r\n\r\n'),
  },
];

describe.each(['a', 'b', 'c'] as const)('http port of node %s', (name) => {
  for (const input of HTTP_INPUTS) {
    it(`${input.what}: answered 400 or reset, counted as a bad request`, async () => {
      const p = await hostile(
        name,
        'http',
        async (peer) => {
          await peer.write(input.bytes);
          peer.end();
        },
        { [httpBadRequests]: 1 },
      );
      expectRefusedHttp(p, /^400$/);
    });
  }

  it('a frame sent byte by byte: refused as soon as it is not HTTP, counted once', async () => {
    const p = await hostile(
      name,
      'http',
      async (peer) => {
        await peer.writeBytewise(hello('a'));
        peer.end();
      },
      { [httpBadRequests]: 1 },
    );
    expectRefusedHttp(p, /^400$/);
  });

  // Regression: Node emits clientError again for every chunk that arrives after a parse
  // error (the parser stays failed), and each emission used to be counted.
  it('a peer that keeps writing after its 400 is counted once', async () => {
    const p = await hostile(
      name,
      'http',
      async (peer) => {
        await peer.write(Uint8Array.of(0)); // no HTTP method starts with a NUL
        await peer.answered();
        // Ignores the answer and the FIN: more bytes, each its own chunk at the server.
        await peer.writeBytewise(ascii('more garbage'));
        peer.end();
      },
      { [httpBadRequests]: 1 },
      { halfOpen: true },
    );
    expectRefusedHttp(p, /^400$/);
  });

  it('a request sent byte by byte and abandoned mid-headers: counted', async () => {
    const p = await hostile(
      name,
      'http',
      async (peer) => {
        const partial = ascii('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Partial: ab');
        expect(await peer.writeBytewise(partial)).toBe(partial.length);
        peer.end();
      },
      { [httpBadRequests]: 1 },
    );
    expectRefusedHttp(p, /^400$/);
  });

  it('a request for a path that does not exist: 404, counted', async () => {
    const p = await hostile(
      name,
      'http',
      async (peer) => {
        await peer.write(
          ascii('GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
        );
      },
      { [httpBadRequests]: 1 },
    );
    expectRefusedHttp(p, /^404$/);
  });
});

// ---- afterwards ----

describe('after every hostile peer', () => {
  it('the topology still works: A swaps to C, B keeps its connections and its data flowing', async () => {
    const a = (await getJson(node('a'), '/status')) as AStatus;
    expect(a.swap.connected).toBe(true);
    expect(a.swap.reconnects).toBe(baseline.swapReconnects);
    expect(a.connections).toEqual({ b: LIGHT_FLOOD_CONNECTIONS, swap: 1 });
    const b = (await getJson(node('b'), '/status')) as BStatus;
    expect(b.connections).toEqual({
      configured: LIGHT_FLOOD_CONNECTIONS,
      open: LIGHT_FLOOD_CONNECTIONS,
    });
    expect(b.reconnects).toBe(baseline.bReconnects);
    // The file's tests took seconds at 50 frames/s: A kept acknowledging B's data.
    expect(b.bytesAcked).toBeGreaterThan(baseline.bBytesAcked);
    for (const n of ['a', 'b', 'c'] as const) expect(node(n).child.exitCode).toBeNull();
    expect(peers.size).toBe(0);
  });
});
