import { describe, expect, it } from 'vitest';
import { memoryLinkPair } from '../../netstack/memory-link.ts';
import { createRng } from '../../reserve/rng.ts';
import { stackOn } from '../helpers/frame-pipe.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

function message(i: number, size = 64): Uint8Array {
  const m = new Uint8Array(size);
  new DataView(m.buffer).setUint32(0, i);
  m.fill(i & 0xff, 4);
  return m;
}

describe('emulated TCP over a lossy in-memory link', () => {
  it('delivers every message exactly once and in order with 30% of frames lost (seed 1234)', async () => {
    const sched = virtualScheduler();
    const [x, y] = memoryLinkPair(sched, { latencyMs: 1, lossRate: 0.3, rng: createRng(1234) });
    const sender = stackOn(x, { scheduler: sched, rto: { minMs: 20, maxMs: 200 } });
    const got: number[] = [];
    const receiver = stackOn(y, {
      scheduler: sched,
      windowBytes: 16 * 1024,
      onOpen: () => true,
    });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    receiver.openFlow(
      1,
      { message: (p) => got.push(new DataView(p.buffer, p.byteOffset).getUint32(0)) },
      false,
    );
    const N = 2000;
    for (let i = 0; i < N; i++) flow.send(message(i), null);
    const done = await sched.runUntilTrue(() => got.length === N && flow.unacked === 0, 600_000);
    expect(done).toBe(true);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(x.lost + y.lost).toBeGreaterThan(1000);
    expect(flow.counters.retransmitted).toBeGreaterThan(0);
    expect(receiver.duplicates + receiver.outOfOrder).toBeGreaterThan(0);
  });

  it('never has more unacknowledged bytes in flight than the peer advertised', async () => {
    const sched = virtualScheduler();
    const [x, y] = memoryLinkPair(sched, { latencyMs: 5 });
    const sender = stackOn(x, { scheduler: sched });
    const receiver = stackOn(y, { scheduler: sched, windowBytes: 1000 });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    receiver.openFlow(1, { message: () => {} }, false);
    // Learn the window from a first exchange (a lone segment's ACK is delayed 40 ms).
    flow.send(message(0, 100), null);
    await sched.runFor(60);
    let maxInFlight = 0;
    for (let i = 1; i <= 50; i++) flow.send(message(i, 100), null);
    for (let t = 0; t < 200; t++) {
      maxInFlight = Math.max(maxInFlight, flow.bytesInFlight);
      await sched.runFor(1);
    }
    expect(maxInFlight).toBeLessThanOrEqual(1000);
    expect(maxInFlight).toBeGreaterThanOrEqual(900);
    expect(receiver.delivered).toBe(51);
  });

  it('a window-ignoring sender overruns the advertised window', async () => {
    const sched = virtualScheduler();
    const [x, y] = memoryLinkPair(sched, { latencyMs: 5 });
    const sender = stackOn(x, { scheduler: sched, ignoreWindow: true });
    stackOn(y, { scheduler: sched, windowBytes: 1000 });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    for (let i = 0; i < 50; i++) flow.send(message(i, 100), null);
    expect(flow.bytesInFlight).toBe(5000);
  });

  it('retransmits with exponential back-off, capped, while nothing is acknowledged', async () => {
    const sched = virtualScheduler();
    const [x] = memoryLinkPair(sched, { latencyMs: 1 });
    const sender = stackOn(x, { scheduler: sched, rto: { minMs: 200, maxMs: 1000 } });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    const fires: number[] = [];
    flow.send(message(1), null);
    let last = flow.counters.rtoFires;
    for (let t = 0; t < 5000; t++) {
      await sched.runFor(1);
      if (flow.counters.rtoFires !== last) {
        last = flow.counters.rtoFires;
        fires.push(sched.now());
      }
    }
    // 200, then +400, +800, then capped at +1000.
    expect(fires.slice(0, 5)).toEqual([200, 600, 1400, 2400, 3400]);
    expect(flow.currentRtoMs).toBe(1000);
  });

  it('suppresses duplicates: a retransmitted message is delivered once', async () => {
    const sched = virtualScheduler();
    // Slow link: the RTO fires before the first ACK returns, so the receiver sees the copy.
    const [x, y] = memoryLinkPair(sched, { latencyMs: 300 });
    const sender = stackOn(x, { scheduler: sched, rto: { minMs: 200, maxMs: 200 } });
    let count = 0;
    const receiver = stackOn(y, { scheduler: sched });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    receiver.openFlow(1, { message: () => count++ }, false);
    flow.send(message(1), null);
    await sched.runFor(2000);
    expect(flow.counters.retransmitted).toBeGreaterThan(0);
    expect(receiver.duplicates).toBeGreaterThan(0);
    expect(count).toBe(1);
    expect(flow.unacked).toBe(0);
  });

  it('probes a zero window and resumes when the receiver opens it', async () => {
    const sched = virtualScheduler();
    const [x, y] = memoryLinkPair(sched, { latencyMs: 1 });
    const sender = stackOn(x, { scheduler: sched, rto: { minMs: 50, maxMs: 50 } });
    let window = 0;
    const receiver = stackOn(y, { scheduler: sched, windowBytes: () => window });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    receiver.openFlow(1, { message: () => {} }, false);
    // The first message goes out on the initial window; its (delayed) ACK closes the window.
    flow.send(message(1), null);
    await sched.runFor(60);
    flow.send(message(2), null);
    await sched.runFor(5);
    expect(receiver.delivered).toBe(1);
    expect(flow.queued).toBe(1);
    await sched.runFor(300);
    expect(flow.counters.probes).toBeGreaterThanOrEqual(4);
    expect(receiver.delivered).toBe(1);
    window = 4096;
    await sched.runFor(60);
    expect(receiver.delivered).toBe(2);
    expect(flow.queued).toBe(0);
  });
});

describe('delayed ACK', () => {
  it('acknowledges every second segment at once and a lone one after 40 ms', async () => {
    const sched = virtualScheduler();
    const [x, y] = memoryLinkPair(sched, { latencyMs: 1 });
    const sender = stackOn(x, { scheduler: sched });
    const receiver = stackOn(y, { scheduler: sched });
    const flow = sender.openFlow(1, { message: () => {} }, false);
    receiver.openFlow(1, { message: () => {} }, false);
    flow.send(message(1), null);
    flow.send(message(2), null);
    await sched.runFor(3);
    expect(flow.unacked).toBe(0);
    flow.send(message(3), null);
    await sched.runFor(39);
    expect(flow.unacked).toBe(1);
    await sched.runFor(3);
    expect(flow.unacked).toBe(0);
    expect(receiver.flow(1)?.counters.acksSent).toBe(2);
  });
});

describe('flow establishment', () => {
  it('repeats OPEN with back-off until the peer answers, then stops', async () => {
    const sched = virtualScheduler();
    const [x, y] = memoryLinkPair(sched, { latencyMs: 1 });
    const opener = stackOn(x, { scheduler: sched, rto: { minMs: 100, maxMs: 400 } });
    const flow = opener.openFlow(1, { message: () => {} });
    // Nobody listens on y yet: the OPENs go unanswered.
    await sched.runFor(1000);
    expect(flow.established).toBe(false);
    const repeats = flow.counters.retransmitted;
    expect(repeats).toBeGreaterThanOrEqual(3);
    const accepted: number[] = [];
    stackOn(y, { scheduler: sched, onOpen: (id) => (accepted.push(id), true) });
    await sched.runFor(1000);
    expect(flow.established).toBe(true);
    expect(accepted).toEqual([1]);
    const after = flow.counters.retransmitted;
    await sched.runFor(2000);
    expect(flow.counters.retransmitted).toBe(after);
  });
});
