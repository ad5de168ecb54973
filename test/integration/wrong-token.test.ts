// Every listening port of a real topology (C, A pointed at C, B pointed at A) refuses a
// wrong token and counts it. Frame ports (A's service, C's swap): a HELLO with a wrong
// token, an empty one, or the right token and a role the port does not take is closed
// and counted by reason. HTTP ports (A, B, C): control requests with a wrong token or
// none get 403, are counted, and change nothing. (/metrics, /healthz and /status are
// read-only and need no token; the `swapnet up` CLI's own port serves only /metrics, see
// test/e2e/up-down.test.ts.)
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_TYPE } from '../../netstack/frame.ts';
import { encodeHello, type Role } from '../../netstack/hello.ts';
import { hostPort, httpGet, useLightTopology, WAIT_MS } from '../helpers/light-topology.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { parsePromText } from '../helpers/prom-text.ts';

const TOKEN = 'wrong-token-test-token';

const node = useLightTopology({ token: TOKEN, sets: ['service.workingSetMiB=4'] });

async function metrics(n: NodeProcess) {
  return parsePromText((await httpGet(n, '/metrics')).body);
}

async function refusedCount(n: NodeProcess, result: string): Promise<number> {
  return (await metrics(n)).value('swapnet_connections_total', { result }) ?? 0;
}

/** Sends one HELLO and resolves once the node has closed the connection. */
function helloClosed(address: string | undefined, role: Role, token: string): Promise<void> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () =>
      s.write(
        encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello({ role, token }) }),
      ),
    );
    s.resume(); // read the node's HELLO: an unread socket never reports its end
    s.on('error', () => {}); // a reset (our HELLO unread when it closed) is a close too
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${address}: not closed within ${WAIT_MS} ms`));
    }, WAIT_MS);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls the node's counter until it reaches `value` (the node counts as it closes). */
async function expectCount(n: NodeProcess, result: string, value: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let seen = await refusedCount(n, result);
  while (seen < value && Date.now() < deadline) seen = await refusedCount(n, result);
  expect(seen, `${n.ready.node} swapnet_connections_total{result="${result}"}`).toBe(value);
}

const FRAME_PORTS = [
  { name: 'a', port: 'service', role: 'b', wrongRole: 'c' },
  { name: 'c', port: 'swap', role: 'a', wrongRole: 'b' },
] as const;

describe.each(FRAME_PORTS)('frame port $port of node $name', ({ name, port, role, wrongRole }) => {
  it('refuses a wrong token, an empty one, and a role it does not take; counts each', async () => {
    const n = node(name);
    const address = n.ready.listen[port];
    const token0 = await refusedCount(n, 'refused-bad-token');
    const role0 = await refusedCount(n, 'refused-bad-role');
    const accepted0 = await refusedCount(n, 'accepted');
    await helloClosed(address, role, 'not-the-token');
    await helloClosed(address, role, '');
    await helloClosed(address, role, `${TOKEN}x`);
    await expectCount(n, 'refused-bad-token', token0 + 3);
    await helloClosed(address, wrongRole, TOKEN);
    await expectCount(n, 'refused-bad-role', role0 + 1);
    expect(await refusedCount(n, 'accepted')).toBe(accepted0);
    expect((await httpGet(n, '/healthz')).status).toBe(200);
  });
});

/** POST /control/<action> with `token` in x-swapnet-token (or no header). */
async function control(
  n: NodeProcess,
  action: string,
  body: unknown,
  token: string | undefined,
): Promise<number> {
  const res = await fetch(`http://${n.ready.listen.http}/control/${action}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { 'x-swapnet-token': token }),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  await res.arrayBuffer();
  return res.status;
}

describe.each(['a', 'b', 'c'] as const)('http port of node %s', (name) => {
  it('refuses control without the right token (403), counts it, and changes nothing', async () => {
    const n = node(name);
    const refused0 = (await metrics(n)).value('swapnet_control_refused_total') ?? 0;
    const attempts: [string, unknown][] = [
      ['fault', { mode: 'stall' }],
      ['heal', {}],
      ...(name === 'a' ? ([['start', { workload: 'hog' }]] as [string, unknown][]) : []),
    ];
    for (const [action, body] of attempts) {
      expect(await control(n, action, body, 'not-the-token'), action).toBe(403);
      expect(await control(n, action, body, undefined), action).toBe(403);
      expect(await control(n, action, body, ''), action).toBe(403);
    }
    const m = await metrics(n);
    expect(m.value('swapnet_control_refused_total')).toBe(refused0 + attempts.length * 3);
    // Nothing happened: no fault on the node.
    const status = JSON.parse((await httpGet(n, '/status')).body) as { fault: { active: unknown } };
    expect(status.fault.active).toBeNull();
    for (const mode of ['stall', 'blackhole', 'reset', 'loss', 'delay'])
      expect(m.value('swapnet_node_fault_active', { mode }) ?? 0, mode).toBe(0);
  });
});
