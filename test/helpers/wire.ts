// Wires stacks to links through Connections (HELLO included), in virtual time.
import type { AConnection, AStack } from '../../netstack/a-stack.ts';
import { Connection } from '../../netstack/connection.ts';
import type { Role } from '../../netstack/hello.ts';
import type { Link } from '../../netstack/link.ts';
import { PeerStack, type PeerStackOptions } from '../../netstack/peer-stack.ts';

export const TOKEN = 'test-token';

/** A's end of a link: frames into A's NIC, A's frames out. */
export function wireA(stack: AStack, link: Link): { conn: AConnection; connection: Connection } {
  const conn = stack.attach({ send: (f) => connection.send(f) });
  const connection = new Connection(
    link,
    { self: { role: 'a', token: TOKEN }, expect: { token: TOKEN, roles: ['b', 'c'] } },
    {
      hello: () => {},
      frame: (f) => stack.receive(conn, f),
      batchEnd: () => stack.flush(conn),
      closed: () => stack.detach(conn),
    },
  );
  link.onDrain = () => {
    for (const s of conn.sockets.values()) s.flow.pump();
  };
  return { conn, connection };
}

/** A peer's (B's or C's) end of a link. */
export function wirePeer(
  link: Link,
  role: Role,
  options: Omit<PeerStackOptions, 'transmit'>,
): PeerStack {
  const stack: PeerStack = new PeerStack({ ...options, transmit: (f) => connection.send(f) });
  const connection = new Connection(
    link,
    { self: { role, token: TOKEN } },
    {
      hello: () => {},
      frame: (f) => stack.handleFrame(f),
      batchEnd: () => stack.flushAcks(),
      closed: () => stack.closeAll(),
    },
  );
  link.onDrain = () => stack.pumpAll();
  return stack;
}
