// The simulation's network: hosts by name, listeners by (host, port), and links whose
// bytes arrive after a latency, in order, through the receiving host's scheduler (so a
// paused host receives nothing). Each direction has a bounded buffer like a socket's:
// a writer whose bytes the reader has not taken reaches it and is told "backed up"
// (write returns false) until the reader drains to half of it, then gets onDrain. A
// reader that stops reading (a stall) or a host whose link is down (netns) therefore
// backs its peers up exactly as TCP does. Everything runs in model time: deterministic.
import type { Scheduler, Timer } from '../reserve/clock.ts';
import { noop } from './link.ts';

export interface MemoryNetworkOptions {
  /** One-way latency of every link (ms of model time). */
  readonly latencyMs?: number;
  /** Bytes a direction holds unread before its writer is backed up. */
  readonly bufferBytes?: number;
  /** How long a connect to a host whose link is down waits before ETIMEDOUT (ms). */
  readonly connectTimeoutMs?: number;
}

/** Loopback-like: tens of microseconds one way. */
export const DEFAULT_SIM_LATENCY_MS = 0.05;
/** A socket pair's buffering on loopback, roughly (send plus receive buffer). */
export const DEFAULT_SIM_BUFFER_BYTES = 1 << 20;

interface Chunk {
  readonly at: number;
  /** null: the writer's FIN (closed after the data before it). */
  readonly bytes: Uint8Array | null;
}

class NetError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One end of an in-memory connection. */
export class MemoryLinkEnd {
  peer!: MemoryLinkEnd;
  onData: (chunk: Uint8Array) => void = noop;
  onDrain: () => void = noop;
  onClose: (reason: string) => void = noop;
  private ended = false;
  private reading = true;
  /** Bytes on their way to this end, oldest first. */
  private readonly inbox: Chunk[] = [];
  private inboxHead = 0;
  private inboxBytes = 0;
  private delivery: Timer | undefined;
  /** This end wrote past the peer's buffer and waits for a drain. */
  private writerBlocked = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly label: string,
    readonly host: string,
    private readonly net: MemoryNetwork,
    private readonly scheduler: Scheduler,
  ) {}

  get closed(): boolean {
    return this.ended;
  }

  get backedUp(): boolean {
    return this.writerBlocked;
  }

  /** Takes `bytes` over, as socket.write does: the caller must not change them after. */
  write(bytes: Uint8Array): boolean {
    if (this.ended) return false;
    this.bytesOut += bytes.length;
    const full = this.peer.enqueue(bytes);
    if (full) this.writerBlocked = true;
    return !full;
  }

  setReading(on: boolean): void {
    this.reading = on;
    if (on) this.armDelivery();
  }

  close(reason = 'closed', options: { reset?: boolean } = {}): void {
    if (this.ended) return;
    this.finish(reason);
    const peer = this.peer;
    if (options.reset) {
      this.net.after(this.peer.scheduler, () => peer.resetByPeer());
    } else {
      peer.enqueueFin();
    }
  }

  /** Bytes from the peer; true when this end's buffer is now full. */
  private enqueue(bytes: Uint8Array): boolean {
    if (this.ended) return false;
    this.inbox.push({ at: this.scheduler.now() + this.net.latencyMs, bytes });
    this.inboxBytes += bytes.length;
    this.armDelivery();
    return this.inboxBytes >= this.net.bufferBytes;
  }

  private enqueueFin(): void {
    if (this.ended) return;
    this.inbox.push({ at: this.scheduler.now() + this.net.latencyMs, bytes: null });
    this.armDelivery();
  }

  private resetByPeer(): void {
    this.inbox.length = 0;
    this.inboxHead = 0;
    this.inboxBytes = 0;
    this.finish('ECONNRESET');
  }

  /** Schedules the next delivery, unless one is pending or nothing may move now. */
  armDelivery(): void {
    if (this.delivery || this.ended || !this.reading) return;
    const head = this.inbox[this.inboxHead];
    if (!head || this.net.isDown(this.host) || this.net.isDown(this.peer.host)) return;
    const delay = Math.max(0, head.at - this.scheduler.now());
    this.delivery = this.scheduler.schedule(delay, () => {
      this.delivery = undefined;
      this.deliver();
    });
  }

  private deliver(): void {
    const now = this.scheduler.now();
    while (!this.ended && this.reading && !this.net.isDown(this.host)) {
      const head = this.inbox[this.inboxHead];
      if (!head || head.at > now) break;
      this.inboxHead++;
      if (head.bytes === null) {
        this.finish('peer-closed');
        break;
      }
      this.inboxBytes -= head.bytes.length;
      this.bytesIn += head.bytes.length;
      this.onData(head.bytes);
    }
    if (this.inboxHead > 64 && this.inboxHead * 2 > this.inbox.length) {
      this.inbox.splice(0, this.inboxHead);
      this.inboxHead = 0;
    }
    const writer = this.peer;
    if (writer.writerBlocked && this.inboxBytes <= this.net.bufferBytes / 2) {
      writer.writerBlocked = false;
      this.net.after(writer.scheduler, () => {
        if (!writer.ended) writer.onDrain();
      });
    }
    this.armDelivery();
  }

  private finish(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.delivery?.cancel();
    this.delivery = undefined;
    this.net.forget(this);
    this.onClose(reason);
  }
}

interface MemoryListener {
  readonly host: string;
  readonly port: number;
  readonly onLink: (link: MemoryLinkEnd) => void;
  readonly scheduler: Scheduler;
  readonly links: Set<MemoryLinkEnd>;
}

/** A host's view of the network (what a machine is given). */
export interface MemoryHost {
  connect(host: string, port: number): Promise<MemoryLinkEnd>;
  listen(
    host: string,
    port: number,
    onLink: (link: MemoryLinkEnd) => void,
  ): Promise<{ host: string; port: number; close(): Promise<void> }>;
}

export class MemoryNetwork {
  readonly latencyMs: number;
  readonly bufferBytes: number;
  private readonly connectTimeoutMs: number;
  private readonly listeners = new Map<string, MemoryListener>();
  private readonly down = new Set<string>();
  private readonly live = new Set<MemoryLinkEnd>();
  private nextPort = 40_000;
  private nextConnection = 1;

  constructor(options: MemoryNetworkOptions = {}) {
    this.latencyMs = options.latencyMs ?? DEFAULT_SIM_LATENCY_MS;
    this.bufferBytes = options.bufferBytes ?? DEFAULT_SIM_BUFFER_BYTES;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  }

  /** The network as host `name` sees it; its callbacks run on `scheduler`. */
  host(name: string, scheduler: Scheduler): MemoryHost {
    return {
      connect: (host, port) => this.connect(name, scheduler, host, port),
      listen: (host, port, onLink) => this.listen(scheduler, host, port, onLink),
    };
  }

  isDown(host: string): boolean {
    return this.down.has(host);
  }

  /** Takes a host's link down (the netns fault) or up again: bytes wait, writers back up. */
  setLink(host: string, up: boolean): void {
    if (up) {
      if (!this.down.delete(host)) return;
      for (const end of this.live) end.armDelivery();
    } else {
      this.down.add(host);
    }
  }

  /**
   * Kills a host as SIGKILL kills a process: its listeners vanish and each of its
   * connections is reset (its peers see ECONNRESET); the host's own ends run nothing more.
   */
  killHost(host: string): void {
    for (const [key, l] of this.listeners) if (l.host === host) this.listeners.delete(key);
    for (const end of [...this.live]) {
      if (end.host !== host) continue;
      end.onData = noop;
      end.onDrain = noop;
      end.onClose = noop;
      end.close('killed', { reset: true });
    }
  }

  /** Runs `fn` on `scheduler` after the link latency. */
  after(scheduler: Scheduler, fn: () => void): void {
    scheduler.schedule(this.latencyMs, fn);
  }

  forget(end: MemoryLinkEnd): void {
    this.live.delete(end);
    for (const l of this.listeners.values()) l.links.delete(end);
  }

  private connect(
    from: string,
    scheduler: Scheduler,
    host: string,
    port: number,
  ): Promise<MemoryLinkEnd> {
    return new Promise((resolve, reject) => {
      const key = `${host}:${port}`;
      if (this.isDown(from) || this.isDown(host)) {
        scheduler.schedule(this.connectTimeoutMs, () =>
          reject(new NetError('ETIMEDOUT', `connect to ${key} timed out`)),
        );
        return;
      }
      this.after(scheduler, () => {
        const listener = this.listeners.get(key);
        if (!listener) {
          reject(new NetError('ECONNREFUSED', `connect ECONNREFUSED ${key}`));
          return;
        }
        const id = this.nextConnection++;
        const client = new MemoryLinkEnd(`${from}#${id} -> ${key}`, from, this, scheduler);
        const server = new MemoryLinkEnd(`${key} <- ${from}#${id}`, host, this, listener.scheduler);
        client.peer = server;
        server.peer = client;
        this.live.add(client);
        this.live.add(server);
        listener.links.add(server);
        listener.scheduler.schedule(0, () => {
          if (this.listeners.get(key) !== listener) {
            server.close('ECONNREFUSED', { reset: true });
            return;
          }
          listener.onLink(server);
        });
        resolve(client);
      });
    });
  }

  private listen(
    scheduler: Scheduler,
    host: string,
    port: number,
    onLink: (link: MemoryLinkEnd) => void,
  ): Promise<{ host: string; port: number; close(): Promise<void> }> {
    const bound = port === 0 ? this.nextPort++ : port;
    const key = `${host}:${bound}`;
    if (this.listeners.has(key)) {
      return Promise.reject(new NetError('EADDRINUSE', `listen EADDRINUSE ${key}`));
    }
    const listener: MemoryListener = { host, port: bound, onLink, scheduler, links: new Set() };
    this.listeners.set(key, listener);
    return Promise.resolve({
      host,
      port: bound,
      close: async () => {
        if (this.listeners.get(key) === listener) this.listeners.delete(key);
        for (const l of listener.links) l.close('shutdown');
        listener.links.clear();
      },
    });
  }
}
