// The three machines as real processes on loopback: A swaps to C and serves B. Pages are
// written out and read back intact, the service receives B's data, C killed and
// restarted keeps every confirmed page, and a wrong token is refused and counted.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_TYPE } from '../../netstack/frame.ts';
import { encodeHello } from '../../netstack/hello.ts';
import { spawnNode, stopAllNodes } from '../helpers/node-process.ts';
import { getJson, startTopology, waitForStatus, type Topology } from '../helpers/topology.ts';

interface AStatus {
  swap: {
    connected: boolean;
    completed: number;
    pending: number;
    swapIns: number;
    pagesVerified: number;
    integrityErrors: number;
    reconnects: number;
  };
  stats: { swapInErrors: number; oomKills: number };
  workloads: { serviceMessages: number };
}

// A small machine so the hog swaps within seconds; a gentle flood.
const SETS = [
  'mem.ramMiB=64',
  'hog.tasks=2',
  'service.workingSetMiB=2',
  'flood.connections=4',
  'flood.rate=400',
];

let topo: Topology;
const aStatus = () => `http://${topo.a.ready.listen.http}/status`;

beforeAll(async () => {
  topo = await startTopology(SETS);
}, 60_000);

afterAll(async () => {
  await stopAllNodes();
  topo?.cleanup();
});

describe('three processes over loopback', () => {
  it("writes pages out to C and reads them back intact; the service receives B's data", async () => {
    const s = await waitForStatus<AStatus>(
      aStatus(),
      (st) =>
        st.swap.completed > 2000 && st.swap.swapIns > 500 && st.workloads.serviceMessages > 100,
    );
    expect(s.swap.integrityErrors).toBe(0);
    expect(s.swap.pagesVerified).toBe(s.swap.swapIns);
    expect(s.stats.oomKills).toBe(0);
    const c = (await getJson(`http://${topo.c.ready.listen.http}/status`)) as {
      store: { pages: number };
    };
    expect(c.store.pages).toBeGreaterThan(0);
  });

  it('GET /sockets shows the swap flow on both ends and the service sockets on A', async () => {
    interface Flow {
      established: boolean;
      sndNxt: number;
      rcvNxt: number;
      sent: number;
    }
    const a = (await getJson(`http://${topo.a.ready.listen.http}/sockets`)) as {
      cls: string;
      flowId: number;
      flow: Flow;
    }[];
    const swap = a.find((x) => x.cls === 'swap');
    expect(swap?.flow.established).toBe(true);
    expect(a.filter((x) => x.cls === 'service').length).toBe(4);
    const c = (await getJson(`http://${topo.c.ready.listen.http}/sockets`)) as {
      flows: (Flow & { flowId: number })[];
    }[];
    const cFlow = c.flatMap((x) => x.flows).find((f) => f.flowId === swap?.flowId);
    expect(cFlow?.established).toBe(true);
    // C has received A's requests and sent replies.
    expect(cFlow?.rcvNxt).toBeGreaterThan(0);
    expect(cFlow?.sent).toBeGreaterThan(0);
  });

  it('C killed with SIGKILL and restarted on its store keeps every confirmed page', async () => {
    const before = (await getJson(aStatus())) as AStatus;
    const swapAddr = topo.c.ready.listen.swap as string;
    const exit = await topo.c.stop('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    // Same store, same address: A's swap driver reconnects and resends what was in flight.
    const c2 = await spawnNode(
      'c',
      ['--store', topo.store, '--listen', swapAddr, ...SETS.flatMap((x) => ['--set', x])],
      topo.env,
    );
    const after = await waitForStatus<AStatus>(
      aStatus(),
      (st) =>
        st.swap.connected &&
        st.swap.reconnects > before.swap.reconnects &&
        st.swap.swapIns > before.swap.swapIns + 1000,
    );
    // Every page read back since the restart was in C's store and intact.
    expect(after.swap.integrityErrors).toBe(0);
    expect(after.stats.swapInErrors).toBe(0);
    expect(after.swap.pagesVerified).toBe(after.swap.swapIns);
    expect(after.swap.completed).toBeGreaterThan(before.swap.completed);
    await c2.stop();
  });

  it('refuses a connection with the wrong token and counts it', async () => {
    const [host, port] = (topo.a.ready.listen.service as string).split(':') as [string, string];
    const closed = new Promise<void>((resolve, reject) => {
      const s = net.connect({ host, port: Number(port) }, () => {
        s.write(
          encodeFrame({
            type: FRAME_TYPE.HELLO,
            flowId: 0,
            payload: encodeHello({ role: 'b', token: 'wrong' }),
          }),
        );
      });
      s.resume(); // read A's HELLO: an unread socket never reports its end
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      setTimeout(() => reject(new Error('not closed')), 10_000).unref();
    });
    await closed;
    const metrics = await (await fetch(topo.a.ready.metricsUrl)).text();
    expect(metrics).toMatch(
      /swapnet_connections_total\{result="refused-bad-token",node="a"\} [1-9]/,
    );
  });
});
