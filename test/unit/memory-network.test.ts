// The simulation's network (netstack/memory-network.ts) in virtual time: bytes arrive
// after the latency, in order; each direction holds bufferBytes unread before its writer
// is told "backed up", and hears onDrain once the reader drained it to half; a reader
// that stops reading backs its writer up; close delivers data before the FIN; a reset
// discards what was unread and gives ECONNRESET; killHost, link down and a missing
// listener fail as TCP would.
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, type MemoryLinkEnd } from '../../netstack/memory-network.ts';
import type { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

const LATENCY = 5;
const BUFFER = 1000;

interface Pair {
  readonly sched: VirtualScheduler;
  readonly net: MemoryNetwork;
  readonly client: MemoryLinkEnd;
  readonly server: MemoryLinkEnd;
  /** What the server received: model time and bytes. */
  readonly received: { at: number; bytes: number[] }[];
  readonly port: number;
}

async function pair(): Promise<Pair> {
  const sched = virtualScheduler();
  const net = new MemoryNetwork({
    latencyMs: LATENCY,
    bufferBytes: BUFFER,
    connectTimeoutMs: 3000,
  });
  const received: { at: number; bytes: number[] }[] = [];
  let server: MemoryLinkEnd | undefined;
  const listener = await net.host('c', sched).listen('c', 0, (link) => {
    server = link;
    link.onData = (chunk) => received.push({ at: sched.now(), bytes: [...chunk] });
  });
  const connecting = net.host('a', sched).connect('c', listener.port);
  await sched.runFor(LATENCY + 1);
  const client = await connecting;
  if (!server) throw new Error('no server end');
  return { sched, net, client, server, received, port: listener.port };
}

/** Resolves to the error a promise rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<{ code?: string }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err as { code?: string },
  );
}

describe('the in-memory network', () => {
  it('delivers every write after the latency, in order', async () => {
    const { sched, client, received } = await pair();
    const t0 = sched.now();
    client.write(Uint8Array.of(1));
    await sched.runFor(1);
    client.write(Uint8Array.of(2, 3));
    client.write(Uint8Array.of(4));
    await sched.runFor(LATENCY - 2);
    expect(received).toEqual([]);
    await sched.runFor(10);
    expect(received).toEqual([
      { at: t0 + LATENCY, bytes: [1] },
      { at: t0 + 1 + LATENCY, bytes: [2, 3] },
      { at: t0 + 1 + LATENCY, bytes: [4] },
    ]);
  });

  it('a write is refused ("backed up") once bufferBytes are on their way unread; onDrain comes when the reader is down to half', async () => {
    const { sched, client, received } = await pair();
    const t0 = sched.now();
    let drainedAt: number | undefined;
    client.onDrain = () => (drainedAt = sched.now());
    const answers: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      answers.push(client.write(new Uint8Array(300)));
      await sched.runFor(1);
    }
    // 300, 600, 900 on their way: room; 1200: backed up.
    expect(answers).toEqual([true, true, true, false]);
    expect(client.backedUp).toBe(true);
    // Delivered one by one from t0 + 5: 900 left, 600 left, then 300 (half is 500).
    // The loop above ended at t0 + 4; run to t0 + 6.
    await sched.runFor(2);
    expect(received).toHaveLength(2);
    expect(drainedAt).toBeUndefined();
    await sched.runFor(1);
    expect(received).toHaveLength(3);
    // The drain travels back to the writer: one latency later.
    await sched.runFor(LATENCY + 10);
    expect(drainedAt).toBe(t0 + 2 + LATENCY + LATENCY);
    expect(client.backedUp).toBe(false);
    expect(received.map((r) => r.bytes.length)).toEqual([300, 300, 300, 300]);
  });

  it('a reader that stops reading backs its writer up; when it reads again it gets everything, in order', async () => {
    const { sched, client, server, received } = await pair();
    let drains = 0;
    client.onDrain = () => drains++;
    server.setReading(false);
    const answers: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      answers.push(client.write(Uint8Array.of(i, ...new Array<number>(249).fill(0))));
      await sched.runFor(10);
    }
    await sched.runFor(1000);
    expect(received).toEqual([]);
    expect(answers).toEqual([true, true, true, false, false]);
    expect(drains).toBe(0);
    server.setReading(true);
    await sched.runFor(2 * LATENCY);
    expect(received.map((r) => r.bytes[0])).toEqual([0, 1, 2, 3, 4]);
    expect(drains).toBe(1);
  });

  it('close delivers the data written before it, then the FIN', async () => {
    const { sched, client, server, received } = await pair();
    const order: string[] = [];
    server.onData = (chunk) => order.push(`data ${chunk.length}`);
    server.onClose = (reason) => order.push(`close ${reason}`);
    let clientClosed: string | undefined;
    client.onClose = (reason) => (clientClosed = reason);
    client.write(new Uint8Array(10));
    client.write(new Uint8Array(20));
    client.close();
    expect(clientClosed).toBe('closed');
    expect(client.write(new Uint8Array(1))).toBe(false);
    await sched.runFor(2 * LATENCY);
    expect(order).toEqual(['data 10', 'data 20', 'close peer-closed']);
    expect(server.closed).toBe(true);
    expect(received).toEqual([]);
  });

  it('a reset gives the peer ECONNRESET and discards what it had not read', async () => {
    const { sched, client, server } = await pair();
    const got: number[] = [];
    server.onData = (chunk) => got.push(chunk.length);
    let reason: string | undefined;
    server.onClose = (r) => (reason = r);
    server.setReading(false);
    client.write(new Uint8Array(100));
    await sched.runFor(2 * LATENCY);
    client.close('abort', { reset: true });
    await sched.runFor(2 * LATENCY);
    expect(reason).toBe('ECONNRESET');
    server.setReading(true);
    await sched.runFor(2 * LATENCY);
    expect(got).toEqual([]);
  });

  it('killHost resets every connection of the host and removes its listeners: connects are refused', async () => {
    const { sched, net, client, server, port } = await pair();
    let clientReason: string | undefined;
    let serverClosed = false;
    client.onClose = (r) => (clientReason = r);
    server.onClose = () => (serverClosed = true);
    net.killHost('c');
    await sched.runFor(2 * LATENCY);
    expect(clientReason).toBe('ECONNRESET');
    // The killed host runs nothing more, not even its own close handler.
    expect(serverClosed).toBe(false);
    const refused = rejection(net.host('a', sched).connect('c', port));
    await sched.runFor(2 * LATENCY);
    expect((await refused).code).toBe('ECONNREFUSED');
  });

  it("a host's link down holds bytes both ways (the writer backs up) and connects time out; up again, they flow in order", async () => {
    const { sched, net, client, server, received, port } = await pair();
    const back: number[] = [];
    client.onData = (chunk) => back.push(chunk.length);
    net.setLink('c', false);
    const answers: boolean[] = [];
    for (let i = 0; i < 4; i++) answers.push(client.write(Uint8Array.of(i, ...new Array(399))));
    server.write(new Uint8Array(7));
    const t0 = sched.now();
    const timedOut = rejection(net.host('a', sched).connect('c', port));
    let settledAt: number | undefined;
    void timedOut.then(() => (settledAt = sched.now()));
    await sched.runFor(5000);
    expect(received).toEqual([]);
    expect(back).toEqual([]);
    expect(answers).toEqual([true, true, false, false]);
    expect((await timedOut).code).toBe('ETIMEDOUT');
    expect(settledAt).toBe(t0 + 3000);
    net.setLink('c', true);
    await sched.runFor(2 * LATENCY);
    expect(received.map((r) => r.bytes[0])).toEqual([0, 1, 2, 3]);
    expect(back).toEqual([7]);
  });

  it('a connect to a port nobody listens on is refused (ECONNREFUSED); a second listen on a port is EADDRINUSE', async () => {
    const sched = virtualScheduler();
    const net = new MemoryNetwork({ latencyMs: LATENCY });
    const refused = rejection(net.host('a', sched).connect('c', 1234));
    await sched.runFor(2 * LATENCY);
    expect((await refused).code).toBe('ECONNREFUSED');
    await net.host('c', sched).listen('c', 1234, () => {});
    expect((await rejection(net.host('c', sched).listen('c', 1234, () => {}))).code).toBe(
      'EADDRINUSE',
    );
  });
});
