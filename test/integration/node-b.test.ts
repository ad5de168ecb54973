// Node B as a real process against a fake A in the test process (real TCP on 127.0.0.1,
// A's window under the test's control): B floods every connection, stays inside the
// advertised window unless told to ignore it, honours flood.rate, retransmits what A
// drops, reconnects when A goes away, and serves its metrics. Waits only on events.
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from '../../netstack/connection.ts';
import type { Flow } from '../../netstack/flow.ts';
import { FRAME_FLAG, FRAME_TYPE, readU32, type Frame } from '../../netstack/frame.ts';
import { PeerStack } from '../../netstack/peer-stack.ts';
import { listenTcp, type TcpListener } from '../../netstack/tcp-link.ts';
import { realScheduler, type RealScheduler } from '../../nodes/real-scheduler.ts';
import { spawnNode, stopAllNodes, type NodeProcess } from '../helpers/node-process.ts';

const TOKEN = 'node-b-test-token';
const PAYLOAD = 1024;
/** How long any one wait may take before the test fails with what it saw. */
const WAIT_MS = 30_000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await stopAllNodes();
});

/** What the fake A saw on one of B's flows. */
interface SeenFlow {
  readonly connection: number;
  readonly flowId: number;
  /** A's end of the flow (its PeerStack's). */
  readonly flow: Flow;
  /** Data frames received, retransmissions included, and their payload bytes. */
  frames: number;
  newFrames: number;
  retransmittedFrames: number;
  bytes: number;
  /** The furthest byte A ever allowed: max over what it sent of ack + window. */
  edge: number;
  /** Payload bytes that arrived past `edge` (a sender ignoring the window). */
  beyond: number;
  /** Messages the application read, and those whose index was not the next expected. */
  delivered: number;
  misordered: number;
  dropped: number;
  probes: number;
}

interface FakeConnection {
  readonly id: number;
  readonly connection: Connection;
  readonly stack: PeerStack;
  readonly flows: Map<number, SeenFlow>;
}

interface FakeAOptions {
  /** Port to listen on (0: ephemeral); a restarted A reuses its port. */
  readonly port?: number;
  /** The window A advertises (bytes); changeable later through `window`. */
  readonly window: number;
  /** A data frame A refuses (not accepted, not ACKed), decided before the stack sees it. */
  readonly drop?: (flow: SeenFlow, frame: Frame) => boolean;
}

/**
 * Machine A's service as B sees it: accepts HELLO(b, token), opens the flows B announces,
 * ACKs in-order data with the window the test sets, and reads every message at once.
 */
async function fakeA(options: FakeAOptions) {
  const scheduler: RealScheduler = realScheduler(1);
  const connections: FakeConnection[] = [];
  const open = new Set<FakeConnection>();
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  const state = { window: options.window };

  const listener: TcpListener = await listenTcp('127.0.0.1', options.port ?? 0, (link) => {
    const id = connections.length;
    const flows = new Map<number, SeenFlow>();
    // The events below use `fake` and `stack`, built after: they only fire on later turns.
    const connection: Connection = new Connection(
      link,
      {
        self: { role: 'a', token: TOKEN },
        expect: { token: TOKEN, roles: ['b'] },
        batchWrites: (run) => setImmediate(run),
      },
      {
        hello: () => {
          open.add(fake);
          notify();
        },
        frame: (frame) => onFrame(stack, flows, id, frame),
        batchEnd: () => {
          stack.flushAcks();
          notify();
        },
        closed: () => {
          stack.closeAll();
          open.delete(fake);
          notify();
        },
      },
    );
    const stack: PeerStack = new PeerStack({
      scheduler,
      windowBytes: () => state.window,
      transmit: (f) => {
        const seen = flows.get(f.flowId);
        if (seen && f.type !== FRAME_TYPE.OPEN) {
          seen.edge = Math.max(seen.edge, (f.ack ?? 0) + (f.window ?? 0));
        }
        return connection.send(f);
      },
    });
    const fake: FakeConnection = { id, connection, stack, flows };
    connections.push(fake);
  });

  function onFrame(
    stack: PeerStack,
    flows: Map<number, SeenFlow>,
    connection: number,
    frame: Frame,
  ): void {
    if (frame.type === FRAME_TYPE.OPEN) {
      stack.handleFrame(frame);
      const flow = stack.flow(frame.flowId);
      if (!flow || flows.has(frame.flowId)) return;
      const seen: SeenFlow = {
        connection,
        flowId: frame.flowId,
        flow,
        frames: 0,
        newFrames: 0,
        retransmittedFrames: 0,
        bytes: 0,
        // Grows as A sends ACKs: B may send nothing before the answer to its OPEN.
        edge: 0,
        beyond: 0,
        delivered: 0,
        misordered: 0,
        dropped: 0,
        probes: 0,
      };
      flows.set(frame.flowId, seen);
      stack.adopt(frame.flowId, {
        message: (payload) => {
          if (readU32(payload, 0) !== seen.delivered) seen.misordered++;
          seen.delivered++;
        },
      });
      return;
    }
    const seen = flows.get(frame.flowId);
    if (seen && frame.type === FRAME_TYPE.DATA) {
      const end = frame.seq + frame.payload.length;
      seen.frames++;
      seen.bytes += frame.payload.length;
      if (frame.flags & FRAME_FLAG.RETRANSMIT) seen.retransmittedFrames++;
      else seen.newFrames++;
      if (end > seen.edge) seen.beyond += end - Math.max(frame.seq, seen.edge);
      if (options.drop?.(seen, frame)) {
        seen.dropped++;
        return;
      }
    }
    if (seen && frame.type === FRAME_TYPE.ACK && frame.flags & FRAME_FLAG.PROBE) seen.probes++;
    stack.handleFrame(frame);
  }

  const flowsOf = (set: Iterable<FakeConnection>): SeenFlow[] =>
    [...set].flatMap((c) => [...c.flows.values()]);

  const a = {
    get port(): number {
      return listener.port;
    },
    /** Connections whose HELLO was accepted, ever. */
    get accepted(): number {
      return connections.filter((c) => c.connection.peerHello).length;
    },
    /** Flows on connections open now. */
    liveFlows: (): SeenFlow[] => flowsOf(open),
    allFlows: (): SeenFlow[] => flowsOf(connections),
    /** Sets the window and tells B at once (a window update on every open flow). */
    setWindow(bytes: number): void {
      state.window = bytes;
      for (const c of open) {
        for (const seen of c.flows.values()) seen.flow.requestAck();
        c.stack.flushAcks();
      }
    },
    /** Resolves when `cond` holds, re-checked after every batch of frames and every connection event. */
    waitFor(what: string, cond: () => boolean): Promise<void> {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => {
          waiters.delete(check);
          const seen = a.liveFlows().map(({ flow: _f, ...rest }) => rest);
          reject(new Error(`timed out waiting for ${what}; flows: ${JSON.stringify(seen)}`));
        }, WAIT_MS);
        const check = (): void => {
          if (!cond()) return;
          waiters.delete(check);
          clearTimeout(deadline);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
    /** Closes every accepted connection; the listener keeps accepting. */
    dropConnections(): void {
      for (const c of [...open]) c.connection.close('test-closed');
    },
    async close(): Promise<void> {
      for (const c of connections) c.connection.close('shutdown');
      await listener.close();
      scheduler.stop();
    },
  };
  cleanups.push(() => a.close());
  return a;
}

type FakeA = Awaited<ReturnType<typeof fakeA>>;

/** Spawns node B against `a` with `sets` (knob=value) on top of 4 connections. */
async function startB(a: FakeA, sets: readonly string[] = []): Promise<NodeProcess> {
  const args = ['--peer', `127.0.0.1:${a.port}`, '--http', '127.0.0.1:0'];
  for (const s of ['flood.connections=4', ...sets]) args.push('--set', s);
  const b = await spawnNode('b', args, { ...process.env, SWAPNET_TOKEN: TOKEN });
  cleanups.push(() => b.stop().then(() => undefined));
  return b;
}

const everyFlow = (a: FakeA, n: number, pred: (f: SeenFlow) => boolean) => (): boolean => {
  const flows = a.liveFlows();
  return flows.length >= n && flows.every(pred);
};

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

/** B's HTTP address from its ready line. */
function httpBase(b: NodeProcess): string {
  return `http://${b.ready.listen.http ?? ''}`;
}

describe('node B (the flooder) against a fake A', () => {
  it("floods every connection, never past A's advertised window, and resumes when it opens", async () => {
    const a = await fakeA({ window: 0 });
    await startB(a);
    // A answers B's OPEN with a zero window: B sends no data at all (nothing before the
    // answer to its OPEN, nothing past it), and its zero-window probe says it waited.
    await a.waitFor(
      'a zero-window probe on 4 flows',
      // (Data past the edge ends the wait too, so that the assertions below report it.)
      everyFlow(a, 4, (f) => f.probes > 0 || f.beyond > 0 || f.bytes > 0),
    );
    for (const f of a.liveFlows()) {
      expect(f.beyond).toBe(0);
      expect(f.bytes).toBe(0);
    }
    expect(new Set(a.liveFlows().map((f) => f.connection)).size).toBe(4);

    // A small window, opened: B keeps going, still never past ack + window.
    a.setWindow(8 * PAYLOAD);
    await a.waitFor(
      '256 KiB more on every flow',
      everyFlow(a, 4, (f) => f.bytes >= 256 * 1024),
    );
    for (const f of a.liveFlows()) {
      expect(f.beyond).toBe(0);
      expect(f.misordered).toBe(0);
      expect(f.delivered).toBeGreaterThanOrEqual(256);
    }
  });

  it('sends past the window when flood.ignoreWindow is set', async () => {
    const a = await fakeA({ window: 0 });
    await startB(a, ['flood.ignoreWindow=true']);
    await a.waitFor(
      '128 KiB past the window on every flow',
      everyFlow(a, 4, (f) => f.beyond >= 128 * 1024),
    );
    for (const f of a.liveFlows()) expect(f.misordered).toBe(0);
  });

  it('caps the total frame rate at flood.rate', async () => {
    const a = await fakeA({ window: 1 << 20 });
    await startB(a, ['flood.rate=100']);
    const total = (): number => a.allFlows().reduce((n, f) => n + f.newFrames, 0);
    await a.waitFor('20 frames', () => total() >= 20);
    const from = total();
    const t0 = performance.now();
    await a.waitFor('100 more frames', () => total() >= from + 100);
    const seconds = (performance.now() - t0) / 1000;
    // 100 frames at 100 frames/s take about a second (p-queue windows of 10 ms hold one
    // frame each). Unlimited, B sends thousands per second: 0.7 s leaves room for arrival jitter.
    expect(seconds).toBeGreaterThan(0.7);
    expect(a.liveFlows().length).toBe(4);
  });

  it('retransmits the frames A drops; the service reads every message once, in order', async () => {
    const droppedSeqs = new Set<string>();
    const a = await fakeA({
      window: 64 * PAYLOAD,
      // The first copy of every 20th message is lost inside A (as a `nomem` drop would be).
      drop: (flow, frame) => {
        const key = `${flow.connection}/${frame.seq}`;
        if ((frame.seq / PAYLOAD) % 20 !== 5 || droppedSeqs.has(key)) return false;
        droppedSeqs.add(key);
        return true;
      },
    });
    const b = await startB(a);
    await a.waitFor(
      '300 messages through drops on every flow',
      everyFlow(a, 4, (f) => f.delivered >= 300 && f.dropped >= 3),
    );
    for (const f of a.liveFlows()) {
      expect(f.misordered).toBe(0);
      expect(f.retransmittedFrames).toBeGreaterThan(0);
    }
    const status = await getJson(`${httpBase(b)}/status`);
    expect(status.body).toMatchObject({ retransmits: expect.any(Number) });
    expect((status.body as { retransmits: number }).retransmits).toBeGreaterThan(0);
  });

  it('reconnects after A closes its connections and after A restarts on the same port', async () => {
    const a = await fakeA({ window: 64 * PAYLOAD });
    const b = await startB(a);
    await a.waitFor(
      'data on 4 flows',
      everyFlow(a, 4, (f) => f.delivered > 0),
    );

    a.dropConnections();
    await a.waitFor(
      '4 new connections with data',
      () => a.accepted >= 8 && everyFlow(a, 4, (f) => f.delivered > 0)(),
    );

    const port = a.port;
    await a.close();
    const restarted = await fakeA({ window: 64 * PAYLOAD, port });
    await restarted.waitFor(
      'data on 4 flows after the restart',
      everyFlow(restarted, 4, (f) => f.delivered > 0),
    );

    const status = (await getJson(`${httpBase(b)}/status`)).body as {
      reconnects: number;
      connections: { open: number };
    };
    expect(status.reconnects).toBeGreaterThanOrEqual(8);
    expect(status.connections.open).toBe(4);
  });

  it('serves /metrics (node="b"), /healthz and /status, and exits 0 on SIGTERM', async () => {
    const a = await fakeA({ window: 64 * PAYLOAD });
    const b = await startB(a);
    await a.waitFor(
      'data on 4 flows',
      everyFlow(a, 4, (f) => f.delivered > 0),
    );
    const ready = b.ready;
    expect(ready.listen).toEqual({ http: expect.any(String) });

    const metrics = await (await fetch(ready.metricsUrl)).text();
    const sent = /^swapnet_flood_frames_sent_total\{node="b"\} (\d+)$/m.exec(metrics);
    expect(Number(sent?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^swapnet_flood_connections\{node="b"\} 4$/m);
    expect(metrics).toMatch(/^swapnet_flood_bytes_acked_total\{node="b"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^swapnet_flood_reconnects_total\{node="b"\} 0$/m);

    const health = await getJson(`${httpBase(b)}/healthz`);
    expect(health).toEqual({ status: 200, body: expect.objectContaining({ ok: true }) });
    const status = await getJson(`${httpBase(b)}/status`);
    expect(status.body).toMatchObject({
      node: 'b',
      connections: { configured: 4, open: 4 },
      perConnection: expect.any(Array),
    });
    expect((status.body as { perConnection: unknown[] }).perConnection).toHaveLength(4);

    expect(await b.stop()).toEqual({ code: 0, signal: null });
  });
});
