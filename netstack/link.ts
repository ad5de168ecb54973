// A link carries encoded frames between two endpoints: real TCP (tcp-link.ts) or
// in-memory in virtual time (memory-link.ts). Every callback is set by the owner;
// close is reported once.

export interface Link {
  /** Writes bytes (one or more encoded frames). Returns false when backed up: wait for onDrain. */
  write(bytes: Uint8Array): boolean;
  /** Closes the link; the peer sees onClose. Idempotent. */
  close(reason?: string): void;
  readonly closed: boolean;
  /** True from a write() that returned false until the onDrain that follows it. */
  readonly backedUp: boolean;
  /** Bytes arrived (any split: the owner decodes). */
  onData: (chunk: Uint8Array) => void;
  /** The link accepts writes again after write() returned false. */
  onDrain: () => void;
  /** The link closed (by either side, or an error), with a reason. Called once. */
  onClose: (reason: string) => void;
  /** A human label for logs ("127.0.0.1:4321 -> 127.0.0.1:5000"). */
  readonly label: string;
}

/** Callbacks that do nothing, for links nobody listens to yet. */
export const noop = (): void => {};
