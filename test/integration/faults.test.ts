// Fault injection (DESIGN.md section 8) as the sender sees it: node C as a real process
// faulted through its control endpoint, a test client playing A's swap driver; then A and
// B in a light topology, faulted the same way. Waits on replies, 'drain', 'close' and log
// lines; the only fixed spans are short deadlines during which nothing may arrive.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultGateState } from '../../nodes/machines/fault-gate.ts';
import { SWAP_STATUS } from '../../nodes/machines/swap-protocol.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';
import {
  hostPort,
  httpGet,
  LIGHT_FLOOD_CONNECTIONS,
  startLightTopology,
  waitForLog,
} from '../helpers/light-topology.ts';
import { spawnNode, stopAllNodes, type NodeProcess } from '../helpers/node-process.ts';
import { parsePromText } from '../helpers/prom-text.ts';
import { SwapClient, type SwapClientOptions, type SwapReply } from '../helpers/swap-client.ts';
import { waitForStatus } from '../helpers/topology.ts';

const TOKEN = 'faults-test-token';
/** How long the tests watch a faulted node to show that nothing comes back. */
const OBSERVE_MS = 500;
/** Longest any single wait may take before the test fails. */
const WAIT_MS = 15_000;
/** Bytes a WRITE request puts on the wire: frame overhead plus its 17-byte header and page. */
const WRITE_FRAME_BYTES = 32 + 17 + PAGE_SIZE;

/**
 * WRITE requests enough to back up a sender's socket on loopback when the receiver does
 * not read: Linux takes up to tcp_wmem[2] into the sender's send buffer and tcp_rmem[1]
 * into the receiver's (it does not grow while nothing is read), 2 MiB more stay with the
 * sender. Elsewhere, 8 MiB in all.
 */
function requestsToFillSocket(): number {
  let kernelBytes = 6 * 1024 * 1024;
  try {
    const field = (file: string, i: number): number =>
      Number(readFileSync(file, 'utf8').trim().split(/\s+/)[i]);
    const bytes = field('/proc/sys/net/ipv4/tcp_wmem', 2) + field('/proc/sys/net/ipv4/tcp_rmem', 1);
    if (Number.isFinite(bytes)) kernelBytes = bytes;
  } catch {
    // Not Linux: keep the estimate.
  }
  return Math.ceil((kernelBytes + 2 * 1024 * 1024) / WRITE_FRAME_BYTES);
}

interface CStatus {
  readonly writes: number;
  readonly links: readonly { readonly outOfOrder: number }[];
  readonly fault: FaultGateState;
}

/** POST /control/<action> with a JSON body on a fresh connection. */
function control(
  node: NodeProcess,
  action: string,
  body: unknown,
  token = TOKEN,
): Promise<{ status: number; body: { error?: string } & Partial<FaultGateState> }> {
  const { host, port } = hostPort(node.ready.listen.http);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        path: `/control/${action}`,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          'x-swapnet-token': token,
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (data += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** Applies a fault (control must answer 200) and returns the gate's state. */
async function applyFault(
  node: NodeProcess,
  spec: Record<string, unknown>,
): Promise<FaultGateState> {
  const r = await control(node, 'fault', spec);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as FaultGateState;
}

async function heal(node: NodeProcess): Promise<FaultGateState> {
  const r = await control(node, 'heal', {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as FaultGateState;
}

async function statusOf<T>(node: NodeProcess): Promise<T> {
  const r = await httpGet(node, '/status');
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as T;
}

async function metricsOf(node: NodeProcess) {
  const r = await httpGet(node, '/metrics');
  expect(r.status).toBe(200);
  return parsePromText(r.body);
}

/** Resolves after `ms`: the span during which a test shows that nothing arrives. */
function deadline(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once the client has handed every request to its socket and the socket has
 * written everything (checked now and at each 'drain'); rejects after WAIT_MS.
 */
function socketDrained(client: SwapClient): Promise<void> {
  const socket = client.link.socket;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (client.flow.queued > 0 || socket.writableLength > 0) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(
          `socket not drained: ${client.flow.queued} queued, ${socket.writableLength} bytes unwritten`,
        ),
      );
    }, WAIT_MS);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', check);
    };
    socket.on('drain', check);
    setImmediate(check);
  });
}

const expectOk = (replies: readonly SwapReply[]): void =>
  expect(replies.filter((r) => r.status !== SWAP_STATUS.OK)).toEqual([]);

describe('faults on node C, as the swap client sees them', () => {
  let dir: string;
  let c: NodeProcess;
  const clients: SwapClient[] = [];
  /** Slots handed out to the tests, so that no two requests share one. */
  let nextSlot = 0;

  const connect = async (options: Partial<SwapClientOptions> = {}): Promise<SwapClient> => {
    const client = await SwapClient.connect(c.ready.listen.swap, { token: TOKEN, ...options });
    clients.push(client);
    return client;
  };
  /** N WRITE requests to fresh slots, all handed to the flow at once. */
  const writes = (client: SwapClient, n: number): Promise<SwapReply>[] =>
    Array.from({ length: n }, () => {
      const slot = nextSlot++;
      return client.write(slot, 10_000 + slot, 1);
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'swapnet-faults-'));
    c = await spawnNode(
      'c',
      [
        '--store',
        path.join(dir, 'c.swapstore'),
        // A device of 2 x 64 MiB = 32768 slots; quick retransmission so that loss heals fast.
        ...['mem.ramMiB=64', 'net.rtoMinMs=50', 'net.rtoMaxMs=400'].flatMap((s) => ['--set', s]),
      ],
      { ...process.env, SWAPNET_TOKEN: TOKEN, SWAPNET_LOG_LEVEL: 'warn' },
    );
  });

  afterEach(async () => {
    // Whatever a test left behind: a stopped process, an active fault, open clients.
    c.child.kill('SIGCONT');
    await heal(c);
    for (const client of clients.splice(0)) client.close();
  });

  afterAll(async () => {
    await stopAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("stall: C stops reading, the client's socket backs up, nothing is answered until heal", async () => {
    const client = await connect({ ignoreWindow: true, rto: { minMs: 200, maxMs: 1000 } });
    // The flow is open (C answered) before the stall.
    expectOk(await Promise.all(writes(client, 1)));

    const state = await applyFault(c, { mode: 'stall' });
    expect(state.active).toMatchObject({ mode: 'stall', direction: 'both' });
    const n = requestsToFillSocket();
    const requests = writes(client, n);
    await deadline(OBSERVE_MS);

    // What the sender sees: the kernel's buffers full, its socket never drains, so its
    // flow stops writing and holds the rest; and no reply.
    const socket = client.link.socket;
    expect(socket.writableNeedDrain).toBe(true);
    expect(client.flow.backedUp).toBe(true);
    expect(client.flow.queued).toBeGreaterThan(0);
    expect(client.outstanding).toBe(n);
    expect(client.replyOrder).toHaveLength(1);
    // C keeps serving its HTTP side and shows the fault.
    expect((await httpGet(c, '/healthz')).status).toBe(200);
    expect((await statusOf<CStatus>(c)).fault.active).toMatchObject({ mode: 'stall' });
    expect((await metricsOf(c)).value('swapnet_node_fault_active', { mode: 'stall' })).toBe(1);

    const healed = await heal(c);
    expect(healed.active).toBeNull();
    const drained = socketDrained(client);
    // Every request answered, each once (a second reply would count as unexpected).
    expectOk(await Promise.all(requests));
    await drained;
    expect(client.unexpected).toBe(0);
    expect(client.replyOrder).toHaveLength(n + 1);
    expect(new Set(client.replyOrder).size).toBe(n + 1);
  });

  it("blackhole: C reads and discards, the client's socket keeps draining, retransmission answers everything after heal", async () => {
    const client = await connect({ ignoreWindow: true, rto: { minMs: 100, maxMs: 400 } });
    expectOk(await Promise.all(writes(client, 1)));
    const before = await statusOf<CStatus>(c);

    await applyFault(c, { mode: 'blackhole' });
    // The same burst that backs up a stalled socket all goes out: no backpressure.
    const n = requestsToFillSocket();
    const requests = writes(client, n);
    await socketDrained(client);
    expect(client.link.socket.writableNeedDrain).toBe(false);
    await deadline(OBSERVE_MS);
    expect(client.replyOrder).toHaveLength(1);
    expect(client.flow.counters.rtoFires).toBeGreaterThan(0);
    const during = await statusOf<CStatus>(c);
    expect(during.writes).toBe(before.writes);
    expect(during.fault.counters.dropped.blackhole.in).toBeGreaterThanOrEqual(n);
    const m = await metricsOf(c);
    expect(
      m.value('swapnet_fault_frames_dropped_total', { mode: 'blackhole', direction: 'in' }),
    ).toBeGreaterThanOrEqual(n);

    await heal(c);
    expectOk(await Promise.all(requests));
    expect(client.unexpected).toBe(0);
    expect(new Set(client.replyOrder).size).toBe(n + 1);
    // C stored each page once: duplicates of retransmission were suppressed.
    expect((await statusOf<CStatus>(c)).writes).toBe(before.writes + n);
  });

  it('reset: the client sees its connection reset at once, new ones are reset until heal', async () => {
    const client = await connect();
    expectOk(await Promise.all(writes(client, 1)));

    await applyFault(c, { mode: 'reset' });
    expect(['ECONNRESET', 'peer-closed']).toContain(await client.closed);

    // A new connection: the handshake completes in C's kernel, then C resets it.
    const refused = await SwapClient.connect(c.ready.listen.swap, { token: TOKEN }).then(
      (again) => {
        clients.push(again);
        return again.closed;
      },
      (err: NodeJS.ErrnoException) => err.code ?? String(err),
    );
    expect(['ECONNRESET', 'EPIPE', 'peer-closed']).toContain(refused);
    const s = await statusOf<CStatus>(c);
    expect(s.fault.counters.connections.reset).toBeGreaterThanOrEqual(1);
    expect(s.fault.counters.connections.refused).toBeGreaterThanOrEqual(1);
    expect(s.fault.connections).toBe(0);

    await heal(c);
    const after = await connect();
    expectOk(await Promise.all(writes(after, 4)));
  });

  it('pause: SIGSTOP, C answers nothing and its /healthz times out; SIGCONT, everything answers', async () => {
    const client = await connect();
    expectOk(await Promise.all(writes(client, 1)));

    c.child.kill('SIGSTOP');
    const request = client.write(nextSlot, 10_000 + nextSlot++, 1);
    const health = fetch(`http://${c.ready.listen.http}/healthz`, {
      signal: AbortSignal.timeout(OBSERVE_MS),
    });
    await expect(health).rejects.toThrow(/aborted|timeout/i);
    expect(client.replyOrder).toHaveLength(1);

    c.child.kill('SIGCONT');
    expectOk([await request]);
    const r = await httpGet(c, '/healthz');
    expect(r.status).toBe(200);
  });

  it('loss: with 30% of frames dropped each way, every request gets exactly one reply', async () => {
    const client = await connect({ rto: { minMs: 50, maxMs: 400 } });
    expectOk(await Promise.all(writes(client, 1)));
    const before = await statusOf<CStatus>(c);

    const state = await applyFault(c, { mode: 'loss', lossRate: 0.3, seed: 42 });
    expect(state.active).toMatchObject({ mode: 'loss', lossRate: 0.3, seed: 42 });
    const n = 40;
    const replies = await Promise.all(writes(client, n));
    expectOk(replies);
    expect(client.unexpected).toBe(0);
    expect(new Set(replies.map((r) => r.handle)).size).toBe(n);
    expect(client.flow.counters.retransmitted).toBeGreaterThan(0);

    const after = await statusOf<CStatus>(c);
    expect(after.writes).toBe(before.writes + n);
    const dropped = after.fault.counters.dropped.loss;
    expect(dropped.in).toBeGreaterThan(0);
    expect(dropped.out).toBeGreaterThan(0);
    const m = await metricsOf(c);
    expect(
      m.value('swapnet_fault_frames_dropped_total', { mode: 'loss', direction: 'in' }),
    ).toBeGreaterThanOrEqual(dropped.in);
  });

  it('delay: replies come no sooner than the delay each way, and no frame overtakes another', async () => {
    // Retransmission timeouts above the delayed round trip: nothing is resent needlessly.
    const client = await connect({ rto: { minMs: 2000, maxMs: 3000 } });
    expectOk(await Promise.all(writes(client, 1)));

    const delayMs = 200;
    await applyFault(c, { mode: 'delay', delayMs, jitterMs: 50, seed: 3 });
    const replies = await Promise.all(writes(client, 20));
    expectOk(replies);
    // Both directions are delayed: the request on its way in, the reply on its way out.
    for (const r of replies) expect(r.receivedAt - r.sentAt).toBeGreaterThanOrEqual(2 * delayMs);
    // Jitter never reorders: neither end received a frame ahead of its turn.
    expect(client.stack.outOfOrder).toBe(0);
    const s = await statusOf<CStatus>(c);
    expect(s.links.every((l) => l.outOfOrder === 0)).toBe(true);
    expect(s.fault.counters.delayed.delay.in).toBeGreaterThanOrEqual(20);
    expect(s.fault.counters.delayed.delay.out).toBeGreaterThanOrEqual(20);
  });

  it('control: the token is required, bad bodies are refused naming the field, pause is explained', async () => {
    expect((await control(c, 'fault', { mode: 'stall' }, 'wrong-token')).status).toBe(403);
    expect((await statusOf<CStatus>(c)).fault.active).toBeNull();

    const frob = await control(c, 'fault', { mode: 'frob' });
    expect(frob.status).toBe(400);
    expect(frob.body.error).toMatch(/^mode: "frob"/);
    const rate = await control(c, 'fault', { mode: 'loss', lossRate: 2 });
    expect(rate.status).toBe(400);
    expect(rate.body.error).toMatch(/^lossRate: 2/);
    const unknown = await control(c, 'fault', { mode: 'stall', target: 'c' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/target: unknown field/);
    const pause = await control(c, 'fault', { mode: 'pause' });
    expect(pause.status).toBe(400);
    expect(pause.body.error).toMatch(/SIGSTOP/);
    expect((await control(c, 'frob', {})).status).toBe(404);

    const applied = await applyFault(c, { mode: 'delay', direction: 'out' });
    // Parameters left out come from the node's knobs (fault.delayMs, fault.jitterMs).
    expect(applied.active).toMatchObject({
      mode: 'delay',
      direction: 'out',
      delayMs: 200,
      jitterMs: 50,
    });
    expect((await metricsOf(c)).value('swapnet_node_fault_active', { mode: 'delay' })).toBe(1);
    expect((await heal(c)).active).toBeNull();
    const m = await metricsOf(c);
    expect(m.value('swapnet_node_fault_active', { mode: 'delay' })).toBe(0);
    expect(m.value('swapnet_control_refused_total')).toBeGreaterThanOrEqual(1);
  });
});

describe('faults on A and B in a light topology', () => {
  afterAll(() => stopAllNodes());

  it('reset on A drops its swap and service connections and refuses new ones; heal brings both back', async () => {
    const topo = await startLightTopology({ token: TOKEN });
    try {
      interface AStatus {
        readonly swap: { readonly connected: boolean };
        readonly connections: { readonly b: number };
        readonly fault: FaultGateState;
      }
      const aStatus = `http://${topo.a.ready.listen.http}/status`;
      await applyFault(topo.a, { mode: 'reset' });
      await waitForLog(topo.a, 'swap connection closed', 1);
      // A's own reconnects to C and B's reconnects to A are refused while it lasts.
      await waitForStatus<AStatus>(
        aStatus,
        (s) =>
          !s.swap.connected && s.connections.b === 0 && s.fault.counters.connections.refused >= 2,
        WAIT_MS,
      );

      await heal(topo.a);
      await waitForLog(topo.a, 'swap connection up', 2);
      await waitForStatus<AStatus>(
        aStatus,
        (s) => s.swap.connected && s.connections.b === LIGHT_FLOOD_CONNECTIONS,
        WAIT_MS,
      );

      // B's outgoing frames go through B's gate too: a blackhole outward drops them.
      await applyFault(topo.b, { mode: 'blackhole', direction: 'out' });
      await waitForStatus<{ fault: FaultGateState }>(
        `http://${topo.b.ready.listen.http}/status`,
        (s) => s.fault.counters.dropped.blackhole.out > 0,
        WAIT_MS,
      );
      expect((await heal(topo.b)).active).toBeNull();
    } finally {
      await topo.stop();
    }
  });
});
