// Frames over real loopback TCP: handshake, the token check, malformed input closing
// the connection with a reason (never a crash), and the transport on top.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, type CloseReason } from '../../netstack/connection.ts';
import { encodeFrame, FRAME_TYPE, writeU32 } from '../../netstack/frame.ts';
import { encodeHello } from '../../netstack/hello.ts';
import { connectTcp, listenTcp, type TcpLink, type TcpListener } from '../../netstack/tcp-link.ts';

const TOKEN = 'integration-token';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server that accepts HELLO(role b) with the token and reports how each connection ended. */
async function server() {
  const ended: CloseReason[] = [];
  const frames: number[] = [];
  const frameWaiters = new Set<() => void>();
  /** Resolves once `n` frames have arrived. */
  const framesArrived = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (frames.length < n) return;
        frameWaiters.delete(check);
        resolve();
      };
      frameWaiters.add(check);
      check();
    });
  let waiters: Array<() => void> = [];
  const listener: TcpListener = await listenTcp('127.0.0.1', 0, (link) => {
    new Connection(
      link,
      { self: { role: 'a', token: TOKEN }, expect: { token: TOKEN, roles: ['b'] } },
      {
        hello: () => {},
        frame: (f) => {
          frames.push(f.flowId);
          for (const w of frameWaiters) w();
        },
        batchEnd: () => {},
        closed: (reason) => {
          ended.push(reason);
          for (const w of waiters) w();
          waiters = [];
        },
      },
    );
  });
  cleanups.push(() => listener.close());
  const nextEnd = (): Promise<CloseReason> =>
    new Promise((resolve) => {
      const n = ended.length;
      waiters.push(() => resolve(ended[n] as CloseReason));
    });
  return { listener, ended, frames, nextEnd, framesArrived };
}

function rawClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    cleanups.push(() => void s.destroy());
  });
}

function hello(role: 'b' | 'c', token = TOKEN): Uint8Array {
  return encodeFrame({ type: FRAME_TYPE.HELLO, flowId: 0, payload: encodeHello({ role, token }) });
}

describe('frames over loopback TCP', () => {
  it('delivers frames after a valid HELLO', async () => {
    const srv = await server();
    const link: TcpLink = await connectTcp('127.0.0.1', srv.listener.port);
    cleanups.push(() => link.close());
    const got = srv.framesArrived(3);
    link.write(hello('b'));
    for (const id of [1, 2, 3])
      link.write(encodeFrame({ type: FRAME_TYPE.DATA, flowId: id, payload: new Uint8Array(100) }));
    await got;
    expect(srv.frames).toEqual([1, 2, 3]);
  });

  for (const [name, bytes, reason] of [
    ['a wrong token', hello('b', 'nope'), 'bad-token'],
    ['a role the server does not accept', hello('c'), 'bad-role'],
    ['a data frame before HELLO', encodeFrame({ type: FRAME_TYPE.DATA, flowId: 1 }), 'no-hello'],
    ['random bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff), 'too-long'],
    ['an HTTP request', new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'too-long'],
    [
      'a 70 KB length prefix',
      (() => {
        const b = new Uint8Array(4);
        writeU32(b, 0, 70_000);
        return b;
      })(),
      'too-long',
    ],
  ] as const) {
    it(`closes the connection on ${name}, with reason ${reason}`, async () => {
      const srv = await server();
      const s = await rawClient(srv.listener.port);
      const ended = srv.nextEnd();
      s.write(bytes);
      expect(await ended).toBe(reason);
    });
  }

  it('a partial frame sent byte by byte and then abandoned ends as truncated', async () => {
    const srv = await server();
    const s = await rawClient(srv.listener.port);
    const ended = srv.nextEnd();
    const bytes = hello('b');
    for (const b of bytes.subarray(0, bytes.length - 3)) s.write(new Uint8Array([b]));
    s.end();
    expect(await ended).toBe('truncated');
  });
});
