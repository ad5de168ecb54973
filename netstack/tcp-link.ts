// The real wire: a node:net socket as a Link. Thin: no buffering of its own beyond the
// socket's, Nagle off, one close path that reports the reason once, and errors kept as
// the close reason (with the socket's addresses for logs).
import net from 'node:net';
import { noop, type Link } from './link.ts';

export class TcpLink implements Link {
  onData: (chunk: Uint8Array) => void = noop;
  onDrain: () => void = noop;
  onClose: (reason: string) => void = noop;
  readonly label: string;
  private ended = false;
  private reason: string | undefined;
  /** Bytes written and read, for counters. */
  bytesOut = 0;
  bytesIn = 0;

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    this.label = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} -> ${socket.localAddress ?? '?'}:${socket.localPort ?? '?'}`;
    socket.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      // A plain view: slicing a Buffer goes through Buffer's own constructor, a cost
      // the decoder would pay for every frame.
      this.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    });
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.reason ??= err.code ?? err.message;
    });
    socket.on('close', () => this.finish(this.reason ?? 'peer-closed'));
  }

  get closed(): boolean {
    return this.ended || this.socket.destroyed;
  }

  get backedUp(): boolean {
    return this.socket.writableNeedDrain;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.bytesOut += bytes.length;
    return this.socket.write(bytes);
  }

  /** Closes at once. `reset` sends an RST instead of a FIN (the `reset` fault). */
  close(reason = 'closed', options: { reset?: boolean } = {}): void {
    if (this.ended) return;
    this.reason ??= reason;
    if (options.reset) this.socket.resetAndDestroy();
    else this.socket.destroy();
    this.finish(this.reason);
  }

  /** Stops reading (the `stall` fault: the peer's sends back up) or resumes. */
  setReading(on: boolean): void {
    if (on) this.socket.resume();
    else this.socket.pause();
  }

  private finish(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose(reason);
  }
}

/** Connects to host:port; rejects with the socket error (code kept) or on timeout. */
export function connectTcp(host: string, port: number, timeoutMs = 5000): Promise<TcpLink> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      fn();
    };
    const onError = (err: Error): void => settle(() => reject(err));
    const timer = setTimeout(() => {
      socket.destroy();
      settle(() =>
        reject(
          Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: 'ETIMEDOUT' }),
        ),
      );
    }, timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => settle(() => resolve(new TcpLink(socket))));
  });
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes every accepted link. */
  close(): Promise<void>;
}

/** Listens on host:port (port 0 = ephemeral) and hands each accepted socket to `onLink`. */
export function listenTcp(
  host: string,
  port: number,
  onLink: (link: TcpLink) => void,
): Promise<TcpListener> {
  return new Promise((resolve, reject) => {
    const links = new Set<TcpLink>();
    const server = net.createServer((socket) => {
      const link = new TcpLink(socket);
      links.add(link);
      socket.once('close', () => links.delete(link));
      onLink(link);
    });
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.removeListener('error', reject);
      const addr = server.address() as net.AddressInfo;
      resolve({
        host: addr.address,
        port: addr.port,
        close: () =>
          new Promise<void>((done) => {
            for (const l of links) l.close('shutdown');
            server.close(() => done());
          }),
      });
    });
  });
}
