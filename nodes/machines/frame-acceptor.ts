// Accepting frame connections: each must open with a HELLO carrying the topology's token
// and an expected role, within a deadline. Refusals and malformed streams close the
// connection with a reason that is counted and logged; the listener keeps serving. Every
// accepted connection goes through the node's fault gate.
import { DECODE_ERRORS } from '../../netstack/frame-decoder.ts';
import type { CloseReason } from '../../netstack/connection.ts';
import type { Frame } from '../../netstack/frame.ts';
import type { Hello, Role } from '../../netstack/hello.ts';
import { afterCurrent, type Timer } from '../../reserve/clock.ts';
import type { FaultGate } from './fault-gate.ts';
import { GatedConnection } from './gated-connection.ts';
import type { MachineLog } from './machine-log.ts';
import type { NetLink, NetListener, Network } from './network.ts';

/** Where a machine listens. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** What a machine counts at its edges (the shell exports them as metrics). */
export interface EdgeCounters {
  connection(result: string): void;
  frameError(reason: string): void;
}

/** The HELLO deadline unless the machine is told otherwise. */
export const DEFAULT_HELLO_TIMEOUT_MS = 5000;

/** What a node does with a connection once its HELLO was accepted. */
export interface AcceptedHandlers {
  frame(frame: Frame): void;
  batchEnd(): void;
  closed(reason: CloseReason): void;
}

export interface AcceptorOptions {
  readonly listen: HostPort;
  readonly token: string;
  readonly self: Role;
  readonly roles: readonly Role[];
  readonly log: MachineLog;
  readonly counters: EdgeCounters;
  readonly network: Network;
  /** The node's fault gate: a reset fault refuses new connections, the others gate frames. */
  readonly gate: FaultGate;
  /** A connection that sends no valid HELLO within this time is closed (ms of model time). */
  readonly helloTimeoutMs?: number;
  /**
   * Called once per accepted connection; returns what to do with its frames. Frames sent
   * on `connection` pass the fault gate.
   */
  readonly accept: (connection: GatedConnection, peer: Hello, link: NetLink) => AcceptedHandlers;
}

const isDecodeError = (r: string): boolean => (DECODE_ERRORS as readonly string[]).includes(r);
const REFUSALS = new Set(['no-hello', 'bad-hello', 'bad-token', 'bad-role', 'hello-timeout']);

export function acceptFrames(options: AcceptorOptions): Promise<NetListener> {
  const { log, counters, gate } = options;
  const helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
  return options.network.listen(options.listen.host, options.listen.port, (link) => {
    if (!options.gate.admit(link)) {
      log.debug({ link: link.label }, 'connection reset: a reset fault is active');
      return;
    }
    let handlers: AcceptedHandlers | undefined;
    // Armed right after the connection is built; the callbacks below only run later.
    const deadline: { timer?: Timer } = {};
    const connection = new GatedConnection(
      options.gate,
      link,
      {
        self: { role: options.self, token: options.token },
        expect: { token: options.token, roles: options.roles },
        batchWrites: (run) => afterCurrent(gate.scheduler, run),
      },
      {
        hello: (peer) => {
          deadline.timer?.cancel();
          counters.connection('accepted');
          log.debug({ peer: peer.role, link: link.label }, 'connection accepted');
          handlers = options.accept(connection, peer, link);
        },
        frame: (f) => handlers?.frame(f),
        batchEnd: () => handlers?.batchEnd(),
        closed: (reason) => {
          deadline.timer?.cancel();
          if (REFUSALS.has(reason)) {
            counters.connection(`refused-${reason}`);
            log.warn({ link: link.label, reason }, 'connection refused');
          } else if (isDecodeError(reason)) {
            counters.frameError(reason);
            log.warn({ link: link.label, reason }, 'malformed frames: connection closed');
          }
          handlers?.closed(reason);
        },
      },
    );
    deadline.timer = gate.scheduler.schedule(helloTimeoutMs, () => {
      if (!connection.peerHello) connection.close('hello-timeout');
    });
  });
}
