// A burst of 10,000 connection attempts on A's service port, 2000 in flight at a time (more
// than the listen backlog of 511: the kernel drops some SYNs and the clients retry), against
// a real topology (C, A pointed at C, B pointed at A). Half present the topology's
// token, half a wrong one. Every attempt ends cleanly (A's HELLO comes back and we close,
// or A refuses and closes), A counts each exactly once, its open file descriptors and its
// table of B connections come back to where they were, and B's own connections keep
// working throughout.
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_TYPE } from '../../netstack/frame.ts';
import { encodeHello } from '../../netstack/hello.ts';
import {
  hostPort,
  httpGet,
  LIGHT_FLOOD_CONNECTIONS,
  useLightTopology,
  WAIT_MS,
} from '../helpers/light-topology.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { parsePromText } from '../helpers/prom-text.ts';

const TOKEN = 'connection-burst-token';
const ATTEMPTS = 10_000;
const IN_FLIGHT = 2000;

const node = useLightTopology({ token: TOKEN, sets: ['service.workingSetMiB=4'] });
const a = (): NodeProcess => node('a');

const hello = (token: string): Uint8Array =>
  encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello({ role: 'b', token }) });

type Outcome = 'answered' | 'refused' | 'error';

/**
 * One attempt: connect, send a HELLO; with the right token wait for A's HELLO and close,
 * with a wrong one wait for A to close. Resolves once the socket is closed.
 */
function attempt(host: string, port: number, token: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let outcome: Outcome = 'refused';
    const s = net.connect({ host, port }, () => s.write(hello(token)));
    s.once('data', () => {
      if (token !== TOKEN) return; // A's HELLO precedes its refusal: wait for the close
      outcome = 'answered';
      s.end();
    });
    s.on('error', () => (outcome = outcome === 'answered' ? outcome : 'error'));
    s.once('close', () => resolve(outcome));
  });
}

async function edge(): Promise<Map<string, number>> {
  const prom = parsePromText((await httpGet(a(), '/metrics')).body);
  const out = new Map<string, number>();
  for (const s of prom.samples) {
    if (s.name === 'swapnet_connections_total') out.set(`connections:${s.labels.result}`, s.value);
    if (s.name === 'swapnet_frame_errors_total') out.set(`errors:${s.labels.reason}`, s.value);
  }
  return out;
}

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

interface Status {
  readonly connections: { readonly b: number; readonly swap: number };
  readonly swap: { readonly reconnects: number };
}

describe(`a burst of ${ATTEMPTS} connection attempts on A's service port`, () => {
  it('every attempt is answered or refused, counted once; nothing leaks; B keeps working', async () => {
    const pid = a().ready.pid;
    const status = async (): Promise<Status> =>
      JSON.parse((await httpGet(a(), '/status')).body) as Status;
    const bStatus = async (): Promise<{ bytesAcked: number; reconnects: number }> =>
      JSON.parse((await httpGet(node('b'), '/status')).body) as {
        bytesAcked: number;
        reconnects: number;
      };
    const before = await edge();
    const fdsBefore = openFds(pid);
    const s0 = await status();
    const b0 = await bStatus();

    const { host, port } = hostPort(a().ready.listen.service);
    const outcomes: Record<Outcome, number> = { answered: 0, refused: 0, error: 0 };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ATTEMPTS) {
        const i = next++;
        outcomes[await attempt(host, port, i % 2 === 0 ? TOKEN : 'not-the-token')]++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    console.log(
      `${ATTEMPTS} attempts in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(outcomes)}`,
    );
    // A refused connection may end with a reset (A closed with our bytes unread): never
    // anything else, and every good one was answered.
    expect(outcomes.answered).toBe(ATTEMPTS / 2);
    expect(outcomes.refused + outcomes.error).toBe(ATTEMPTS / 2);

    // A counts each attempt once, when it handles its side of the close.
    let deadline = Date.now() + WAIT_MS;
    let moved: Record<string, number> = {};
    for (;;) {
      const after = await edge();
      moved = Object.fromEntries(
        [...after]
          .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
          .filter(([, d]) => d !== 0),
      );
      if (moved['connections:accepted'] === ATTEMPTS / 2 || Date.now() > deadline) break;
    }
    expect(moved).toEqual({
      'connections:accepted': ATTEMPTS / 2,
      'connections:refused-bad-token': ATTEMPTS / 2,
    });

    // Every socket A accepted is closed again, and so is its connection state.
    deadline = Date.now() + WAIT_MS;
    for (;;) {
      const fds = openFds(pid);
      const s = await status();
      if (
        (fds <= fdsBefore && s.connections.b === LIGHT_FLOOD_CONNECTIONS) ||
        Date.now() > deadline
      ) {
        expect(fds).toBeLessThanOrEqual(fdsBefore);
        expect(s.connections).toEqual(s0.connections);
        expect(s.swap.reconnects).toBe(s0.swap.reconnects);
        break;
      }
    }

    // B never lost a connection and A kept acknowledging its data.
    deadline = Date.now() + WAIT_MS;
    for (;;) {
      const b = await bStatus();
      expect(b.reconnects).toBe(b0.reconnects);
      if (b.bytesAcked > b0.bytesAcked) break;
      expect(Date.now(), 'A acknowledged none of B data after the burst').toBeLessThan(deadline);
    }
    const health = await httpGet(a(), '/healthz');
    expect(health.status).toBe(200);
    expect(a().child.exitCode).toBeNull();
  });
});
