// What a machine sees of the network: connect and listen, giving Links. The process
// shell hands a machine real TCP (nodes/tcp-network.ts); the simulation hands it the
// in-memory network (netstack/memory-network.ts). Machines never open sockets themselves.
import type { Link } from '../../netstack/link.ts';

/** A Link a fault can act on: stop reading (stall) and close with a reset. */
export interface NetLink extends Link {
  /** Stops delivering received bytes (the peer's writes back up), or resumes. */
  setReading(on: boolean): void;
  /** Closes at once; `reset` closes with an RST instead of a FIN (the peer sees a reset). */
  close(reason?: string, options?: { reset?: boolean }): void;
}

export interface NetListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes every accepted link. */
  close(): Promise<void>;
}

export interface Network {
  /** Connects to host:port; rejects with an error carrying a `code` (ECONNREFUSED...). */
  connect(host: string, port: number): Promise<NetLink>;
  /** Listens on host:port (port 0: any free port) and hands each accepted link to `onLink`. */
  listen(host: string, port: number, onLink: (link: NetLink) => void): Promise<NetListener>;
}
