// A burst of 10,000 connection attempts on A's service port, 2000 in flight at a time (more
// than the listen backlog of 511: the kernel drops some SYNs and the clients retry), against
// a real topology (C, A pointed at C, B pointed at A). Half present the topology's
// token, half a wrong one. Every attempt ends cleanly (A's HELLO comes back and we close,
// A refuses and closes, or the kernel resets it before A ever sees it), A counts each
// attempt that reached it exactly once, its open file descriptors and its table of B
// connections come back to where they were, and B's own connections keep working
// throughout.
//
// What a loaded machine does to such a burst (measured here with six busy loops beside the
// test; CI's two cores, shared with other test files, saw the first): the listener answers
// SYNs with syncookies and drops the handshake's last ACK while the accept queue is full.
// The client, already connected, sends its HELLO; that is dropped too and retransmitted with
// backoff, and reached A up to 5.9 s after A accepted, past A's 5 s HELLO deadline (CI:
// 4,973 bad-token and 27 hello-timeout; the retransmissions after A's close carry a still
// valid cookie and made the kernel build connections that never send a HELLO). So A's
// deadline is lifted past the test's span here (the deadline is tested in hostile-peers).
// And when the listener expires a pending request before the client's ACK is let in, that
// ACK fails the cookie check and the kernel resets the attempt (nstat: SyncookiesFailed =
// OutRsts, up to 198 in a burst): an attempt A never accepted, so A counts nothing for it.
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

const HELLO_DEADLINE_MS = 10 * 60_000;
const node = useLightTopology({
  token: TOKEN,
  sets: ['service.workingSetMiB=4'],
  env: { SWAPNET_HELLO_TIMEOUT_MS: String(HELLO_DEADLINE_MS) },
});
const a = (): NodeProcess => node('a');

const hello = (token: string): Uint8Array =>
  encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello({ role: 'b', token }) });

/**
 * How an attempt ended: A's HELLO came back and we closed (answered), A sent its HELLO
 * and refused ours (refused: a close, or a reset when A closed with our bytes unread),
 * the kernel reset it before A accepted it (reset-by-kernel), or anything else (error).
 */
type Outcome = 'answered' | 'refused' | 'reset-by-kernel' | 'error';

/**
 * One attempt: connect, send a HELLO; with the right token wait for A's HELLO and close,
 * with a wrong one wait for A to close. Resolves once the socket is closed.
 */
function attempt(host: string, port: number, token: string): Promise<Outcome> {
  const good = token === TOKEN;
  return new Promise((resolve) => {
    let reachedA = false;
    let outcome: Outcome = 'error';
    const s = net.connect({ host, port }, () => s.write(hello(token)));
    s.once('data', () => {
      reachedA = true; // A sends its HELLO first, whatever it makes of ours
      if (!good) return; // wait for A's refusal
      outcome = 'answered';
      s.end();
    });
    s.on('end', () => {
      if (!good && reachedA) outcome = 'refused';
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' || outcome === 'answered') outcome = 'error';
      else if (!reachedA)
        outcome = 'reset-by-kernel'; // the kernel refused the handshake
      else outcome = good ? 'error' : 'refused'; // A closed with our bytes unread
    });
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
    const outcomes: Record<Outcome, number> = {
      answered: 0,
      refused: 0,
      'reset-by-kernel': 0,
      error: 0,
    };
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
    // Every attempt ended in one of the three clean ways, and most reached A.
    expect(outcomes.error).toBe(0);
    expect(outcomes.answered + outcomes.refused + outcomes['reset-by-kernel']).toBe(ATTEMPTS);
    expect(outcomes.answered).toBeGreaterThan(ATTEMPTS / 4);
    expect(outcomes.refused).toBeGreaterThan(ATTEMPTS / 4);

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
      const counted =
        (moved['connections:accepted'] ?? 0) + (moved['connections:refused-bad-token'] ?? 0);
      if (counted >= outcomes.answered + outcomes.refused || Date.now() > deadline) break;
    }
    expect(moved).toEqual({
      'connections:accepted': outcomes.answered,
      'connections:refused-bad-token': outcomes.refused,
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
