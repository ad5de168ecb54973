// The fault gate (nodes/machines/fault-gate.ts, gated-connection.ts) over the in-memory
// network, in model time: two gated frame connections, A's and C's, each behind its
// machine's gate. A stall backs the sender up as TCP does; a blackhole drops frames with
// no backpressure; loss with a seed drops the same frames every time; a delay never
// reorders; a reset closes connections and refuses new ones until healed; `pause` is the
// machine's scheduler frozen (the gate refuses to apply it itself).
import { describe, expect, it } from 'vitest';
import type { CloseReason } from '../../netstack/connection.ts';
import { FRAME_TYPE, type Frame } from '../../netstack/frame.ts';
import { MemoryNetwork } from '../../netstack/memory-network.ts';
import { ControlError } from '../../nodes/machines/control-error.ts';
import {
  FAULT_REFUSED_CODE,
  FaultGate,
  type FaultRequest,
} from '../../nodes/machines/fault-gate.ts';
import { GatedConnection } from '../../nodes/machines/gated-connection.ts';
import { LOG_LEVELS, sinkLog } from '../../nodes/machines/machine-log.ts';
import type { Scheduler } from '../../reserve/clock.ts';
import { PausableScheduler } from '../../reserve/pausable-scheduler.ts';
import type { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

const TOKEN = 'gate-test';
const BUFFER = 16 * 1024;
const PAYLOAD = 1000;

interface End {
  readonly gate: FaultGate;
  readonly scheduler: Scheduler;
  /** The seq of every frame received, in order, and when. */
  readonly got: { seq: number; at: number }[];
  readonly closed: CloseReason[];
  connection: GatedConnection | undefined;
  drains: number;
}

interface Rig {
  readonly sched: VirtualScheduler;
  readonly net: MemoryNetwork;
  readonly a: End;
  readonly c: End;
  readonly cScheduler: PausableScheduler;
  readonly port: number;
  /** A connects to C through A's gate; resolves when both HELLOs are in (or rejects). */
  connect(): Promise<GatedConnection>;
  /** A sends frames seq from..to-1, one per `everyMs`; returns what send() answered. */
  send(from: number, to: number, everyMs?: number): Promise<boolean[]>;
}

function end(gate: FaultGate, scheduler: Scheduler): End {
  return { gate, scheduler, got: [], closed: [], connection: undefined, drains: 0 };
}

function events(e: End) {
  return {
    hello: () => {},
    frame: (f: Frame) => e.got.push({ seq: f.seq, at: e.scheduler.now() }),
    batchEnd: () => {},
    closed: (reason: CloseReason) => e.closed.push(reason),
  };
}

async function rig(): Promise<Rig> {
  const sched = virtualScheduler();
  const net = new MemoryNetwork({ latencyMs: 1, bufferBytes: BUFFER });
  const cScheduler = new PausableScheduler(sched);
  const gateFor = (host: string, scheduler: Scheduler): FaultGate => {
    const h = net.host(host, scheduler);
    return new FaultGate({
      defaults: { lossRate: 0.5, delayMs: 50, jitterMs: 40, seed: 7 },
      log: sinkLog(LOG_LEVELS.error, () => {}),
      network: { connect: h.connect, listen: h.listen },
      scheduler,
      stamp: () => `model ${scheduler.now()} ms`,
    });
  };
  const a = end(gateFor('a', sched), sched);
  const c = end(gateFor('c', cScheduler), cScheduler);
  const listener = await net.host('c', cScheduler).listen('c', 0, (link) => {
    if (!c.gate.admit(link)) return;
    c.connection = new GatedConnection(
      c.gate,
      link,
      { self: { role: 'c', token: TOKEN }, expect: { token: TOKEN, roles: ['a'] } },
      events(c),
    );
  });
  const connect = async (): Promise<GatedConnection> => {
    const connecting = a.gate.connect('c', listener.port).then((link) => {
      const conn = new GatedConnection(
        a.gate,
        link,
        { self: { role: 'a', token: TOKEN } },
        events(a),
      );
      link.onDrain = () => a.drains++;
      return conn;
    });
    await sched.runFor(5);
    const conn = await connecting;
    a.connection = conn;
    return conn;
  };
  const send = async (from: number, to: number, everyMs = 1): Promise<boolean[]> => {
    const answers: boolean[] = [];
    for (let seq = from; seq < to; seq++) {
      const conn = a.connection;
      if (!conn) throw new Error('not connected');
      answers.push(
        conn.send({ type: FRAME_TYPE.DATA, flowId: 1, seq, payload: new Uint8Array(PAYLOAD) }),
      );
      if (everyMs > 0) await sched.runFor(everyMs);
    }
    return answers;
  };
  return { sched, net, a, c, cScheduler, port: listener.port, connect, send };
}

const seqs = (e: End): number[] => e.got.map((g) => g.seq);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from }, (_, i) => from + i);

describe('the fault gate over in-memory links', () => {
  it('stall inward: C stops reading, A backs up once the buffer is full; at heal everything arrives in order and A hears a drain', async () => {
    const r = await rig();
    await r.connect();
    r.c.gate.apply({ mode: 'stall', direction: 'in' });
    const answers = await r.send(0, 30);
    await r.sched.runFor(1000);
    expect(seqs(r.c)).toEqual([]);
    // 16 KiB of buffer: the 16th frame of about 1 KiB fills it; every send after says so.
    const firstRefused = answers.indexOf(false);
    expect(firstRefused).toBeGreaterThan(10);
    expect(firstRefused).toBeLessThan(17);
    expect(answers.slice(firstRefused).every((x) => !x)).toBe(true);
    expect(r.a.drains).toBe(0);
    r.c.gate.heal();
    await r.sched.runFor(10);
    expect(seqs(r.c)).toEqual(range(0, 30));
    expect(r.a.drains).toBe(1);
  });

  it('stall outward: C holds what it sends (send says backed up); at heal it goes out in order', async () => {
    const r = await rig();
    await r.connect();
    const fromC = r.c.connection!;
    let drains = 0;
    fromC.link.onDrain = () => drains++;
    r.c.gate.apply({ mode: 'stall', direction: 'out' });
    const answers = [1, 2, 3].map((seq) =>
      fromC.send({ type: FRAME_TYPE.DATA, flowId: 1, seq, payload: new Uint8Array(10) }),
    );
    expect(answers).toEqual([false, false, false]);
    await r.sched.runFor(1000);
    expect(seqs(r.a)).toEqual([]);
    expect(r.c.gate.state().counters.held.stall.out).toBe(3);
    r.c.gate.heal();
    await r.sched.runFor(5);
    expect(seqs(r.a)).toEqual([1, 2, 3]);
    expect(drains).toBe(1);
  });

  it('blackhole inward: C drops every frame and A never backs up; after heal frames flow again', async () => {
    const r = await rig();
    await r.connect();
    r.c.gate.apply({ mode: 'blackhole', direction: 'in' });
    const answers = await r.send(0, 100);
    await r.sched.runFor(100);
    expect(answers.every((x) => x)).toBe(true);
    expect(seqs(r.c)).toEqual([]);
    expect(r.c.gate.state().counters.dropped.blackhole.in).toBe(100);
    r.c.gate.heal();
    await r.send(100, 103);
    await r.sched.runFor(5);
    expect(seqs(r.c)).toEqual([100, 101, 102]);
  });

  it('loss with a seed drops the same frames every time; another seed other frames', async () => {
    const lossRun = async (request: FaultRequest): Promise<number[]> => {
      const r = await rig();
      await r.connect();
      r.c.gate.apply(request);
      await r.send(0, 200);
      await r.sched.runFor(10);
      expect(r.c.gate.state().counters.dropped.loss.in).toBe(200 - r.c.got.length);
      return seqs(r.c);
    };
    const first = await lossRun({ mode: 'loss', direction: 'in', lossRate: 0.3, seed: 11 });
    const again = await lossRun({ mode: 'loss', direction: 'in', lossRate: 0.3, seed: 11 });
    const other = await lossRun({ mode: 'loss', direction: 'in', lossRate: 0.3, seed: 12 });
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    // About 30% lost, what arrives stays in order.
    expect(first.length).toBeGreaterThan(120);
    expect(first.length).toBeLessThan(160);
    expect([...first].sort((x, y) => x - y)).toEqual(first);
  });

  it('delay never reorders: each frame is at least delayMs late, jitter only spaces them out', async () => {
    const r = await rig();
    await r.connect();
    const sentAt = new Map<number, number>();
    r.c.gate.apply({ mode: 'delay', direction: 'in', delayMs: 50, jitterMs: 40, seed: 3 });
    for (let seq = 0; seq < 60; seq++) {
      sentAt.set(seq, r.sched.now());
      await r.send(seq, seq + 1, 0);
      await r.sched.runFor(2);
    }
    await r.sched.runFor(500);
    expect(seqs(r.c)).toEqual(range(0, 60));
    for (const g of r.c.got) expect(g.at - sentAt.get(g.seq)!).toBeGreaterThanOrEqual(50);
    // The jitter shows: not every frame is late by the same amount.
    const lateness = new Set(r.c.got.map((g) => g.at - sentAt.get(g.seq)!));
    expect(lateness.size).toBeGreaterThan(5);
    expect(r.c.gate.state().counters.delayed.delay.in).toBe(60);
  });

  it('healing a delay delivers what it still holds at once, in order (regression: heal dropped every frame still in the delay line)', async () => {
    const r = await rig();
    await r.connect();
    r.c.gate.apply({ mode: 'delay', direction: 'in', delayMs: 10_000, jitterMs: 0 });
    await r.send(0, 5);
    await r.sched.runFor(100);
    expect(seqs(r.c)).toEqual([]);
    r.c.gate.heal();
    await r.send(5, 7);
    await r.sched.runFor(5);
    expect(seqs(r.c)).toEqual(range(0, 7));
  });

  it('reset closes the connections with a reset and refuses new ones until healed', async () => {
    const r = await rig();
    await r.connect();
    r.c.gate.apply({ mode: 'reset' });
    await r.sched.runFor(5);
    expect(r.a.closed).toEqual(['ECONNRESET']);
    expect(r.c.closed).toEqual(['fault-reset']);
    expect(r.c.gate.state().counters.connections.reset).toBe(1);
    // A new connection from A is accepted by the network and reset by C's gate at once.
    r.a.closed.length = 0;
    await r.connect();
    await r.sched.runFor(5);
    expect(r.a.closed).toEqual(['ECONNRESET']);
    expect(r.c.gate.state().counters.connections.refused).toBe(1);
    // C's own connects are refused by its gate, with the stable code.
    const own = await r.c.gate.connect('a', 1).then(
      () => undefined,
      (err: unknown) => err as { code?: string },
    );
    expect(own?.code).toBe(FAULT_REFUSED_CODE);
    r.c.gate.heal();
    r.a.closed.length = 0;
    await r.connect();
    await r.send(0, 3);
    await r.sched.runFor(5);
    expect(r.a.closed).toEqual([]);
    expect(seqs(r.c)).toEqual([0, 1, 2]);
  });

  it("pause is not the gate's: it refuses it (400); freezing C's scheduler backs A up, and thawing delivers all in order", async () => {
    const r = await rig();
    await r.connect();
    expect(() => r.c.gate.apply({ mode: 'pause' })).toThrow(ControlError);
    r.cScheduler.pause();
    const answers = await r.send(0, 30);
    await r.sched.runFor(5000);
    expect(seqs(r.c)).toEqual([]);
    expect(answers.includes(false)).toBe(true);
    r.cScheduler.resume();
    await r.sched.runFor(10);
    expect(seqs(r.c)).toEqual(range(0, 30));
    expect(r.a.drains).toBe(1);
  });
});
