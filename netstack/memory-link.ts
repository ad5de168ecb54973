// An in-memory link in virtual time: each write arrives at the peer after a latency,
// in order, or is lost whole with a seeded probability. Used by unit tests and by the
// simulation mode. Never backed up.
import type { Scheduler } from '../reserve/clock.ts';
import type { Rng } from '../reserve/rng.ts';
import { noop, type Link } from './link.ts';

export interface MemoryLinkOptions {
  readonly latencyMs?: number;
  /** Probability that a write is lost (needs `rng`). */
  readonly lossRate?: number;
  readonly rng?: Rng;
}

class MemoryEnd implements Link {
  peer: MemoryEnd | undefined;
  closed = false;
  readonly backedUp = false;
  onData: (chunk: Uint8Array) => void = noop;
  onDrain: () => void = noop;
  onClose: (reason: string) => void = noop;
  /** Writes dropped by the loss setting. */
  lost = 0;

  constructor(
    readonly label: string,
    private readonly scheduler: Scheduler,
    private readonly options: MemoryLinkOptions,
  ) {}

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    const { lossRate = 0, rng, latencyMs = 0 } = this.options;
    if (lossRate > 0 && rng?.chance(lossRate)) {
      this.lost++;
      return true;
    }
    const copy = bytes.slice();
    const peer = this.peer;
    this.scheduler.schedule(latencyMs, () => {
      if (peer && !peer.closed) peer.onData(copy);
    });
    return true;
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(reason);
    const peer = this.peer;
    if (peer && !peer.closed) {
      this.scheduler.schedule(this.options.latencyMs ?? 0, () => peer.close(`peer ${reason}`));
    }
  }
}

/** Creates a connected pair of in-memory link ends. */
export function memoryLinkPair(
  scheduler: Scheduler,
  options: MemoryLinkOptions = {},
): [Link & { lost: number }, Link & { lost: number }] {
  const a = new MemoryEnd('mem:a', scheduler, options);
  const b = new MemoryEnd('mem:b', scheduler, options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
