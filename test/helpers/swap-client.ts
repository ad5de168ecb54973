// A test client that plays A's swap driver against a real node C: one connection, one
// flow, requests matched to replies by handle, every reply time-stamped in arrival order.
// It exposes its socket, flow and stack so a test can show what the sender sees.
import { Connection, type CloseReason } from '../../netstack/connection.ts';
import type { Flow, RtoOptions } from '../../netstack/flow.ts';
import type { Role } from '../../netstack/hello.ts';
import { PeerStack } from '../../netstack/peer-stack.ts';
import { connectTcp, type TcpLink } from '../../netstack/tcp-link.ts';
import { realScheduler } from '../../nodes/real-scheduler.ts';
import {
  decodeSwapMessage,
  encodeRead,
  encodeWrite,
  type SwapStatus,
} from '../../nodes/machines/swap-protocol.ts';
import { pageContent } from '../../reserve/page-content.ts';
import { hostPort } from './light-topology.ts';

export interface SwapReply {
  readonly handle: number;
  readonly status: SwapStatus;
  readonly data: Uint8Array | null;
  /** performance.now() when the request was handed to the flow, and when its reply came. */
  readonly sentAt: number;
  readonly receivedAt: number;
}

export interface SwapClientOptions {
  readonly token: string;
  readonly role?: Role;
  /** Send past C's advertised window (to fill socket buffers larger than the window). */
  readonly ignoreWindow?: boolean;
  readonly rto?: RtoOptions;
}

export class SwapClient {
  private readonly scheduler = realScheduler();
  private readonly pending = new Map<
    number,
    { readonly sentAt: number; resolve(r: SwapReply): void; reject(e: Error): void }
  >();
  private nextHandle = 1;
  readonly stack: PeerStack;
  readonly flow: Flow;
  readonly connection: Connection;
  /** Settles with the reason once the connection has ended. */
  readonly closed: Promise<CloseReason>;
  /** Handles in the order their replies arrived. */
  readonly replyOrder: number[] = [];
  /** Messages that were not a well-formed reply to a pending request (a duplicate reply). */
  unexpected = 0;

  private constructor(
    readonly link: TcpLink,
    options: SwapClientOptions,
  ) {
    this.stack = new PeerStack({
      scheduler: this.scheduler,
      transmit: (f) => this.connection.send(f),
      ...(options.rto ? { rto: options.rto } : {}),
      ...(options.ignoreWindow ? { ignoreWindow: true } : {}),
    });
    let ended: (reason: CloseReason) => void = () => {};
    this.closed = new Promise((resolve) => (ended = resolve));
    this.connection = new Connection(
      link,
      { self: { role: options.role ?? 'a', token: options.token } },
      {
        hello: () => {},
        frame: (f) => this.stack.handleFrame(f),
        batchEnd: () => this.stack.flushAcks(),
        closed: (reason) => {
          this.stack.closeAll();
          this.scheduler.stop();
          for (const p of this.pending.values())
            p.reject(new Error(`connection closed: ${reason}`));
          this.pending.clear();
          ended(reason);
        },
      },
    );
    link.onDrain = () => this.stack.pumpAll();
    this.flow = this.stack.openFlow(1, { message: (p) => this.onMessage(p) });
  }

  /** Connects to C's swap address ("host:port"); the caller closes the client. */
  static async connect(
    address: string | undefined,
    options: SwapClientOptions,
  ): Promise<SwapClient> {
    const { host, port } = hostPort(address);
    return new SwapClient(await connectTcp(host, port), options);
  }

  /** Requests currently waiting for their reply. */
  get outstanding(): number {
    return this.pending.size;
  }

  write(slot: number, page: number, version: number): Promise<SwapReply> {
    const handle = this.nextHandle++;
    return this.request(
      handle,
      encodeWrite(handle, slot, page, version, pageContent(page, version)),
    );
  }

  read(slot: number, page: number): Promise<SwapReply> {
    const handle = this.nextHandle++;
    return this.request(handle, encodeRead(handle, slot, page));
  }

  close(): void {
    this.connection.close('test-done');
  }

  private request(handle: number, payload: Uint8Array): Promise<SwapReply> {
    if (this.connection.closed) return Promise.reject(new Error('connection closed'));
    const reply = new Promise<SwapReply>((resolve, reject) => {
      this.pending.set(handle, { sentAt: performance.now(), resolve, reject });
      this.flow.send(payload, undefined);
    });
    // A test that failed early leaves requests behind; their rejection at close is no news.
    reply.catch(() => {});
    return reply;
  }

  private onMessage(payload: Uint8Array): void {
    const msg = decodeSwapMessage(payload);
    const waiter = msg?.op === 'reply' ? this.pending.get(msg.handle) : undefined;
    if (!msg || msg.op !== 'reply' || !waiter) {
      this.unexpected++;
      return;
    }
    this.pending.delete(msg.handle);
    this.replyOrder.push(msg.handle);
    waiter.resolve({
      handle: msg.handle,
      status: msg.status,
      data: msg.data,
      sentAt: waiter.sentAt,
      receivedAt: performance.now(),
    });
  }
}
