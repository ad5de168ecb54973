// The block layer's I/O scheduler in front of the swap device. Requests wait here until
// the driver can take one (a free driver tag and room to send). Two elevators:
//   mq-deadline (block/mq-deadline.c; the kernel's default for a single-queue device
//     such as NBD with one connection): a batch continues in its direction for up to
//     `fifoBatch` requests while that direction has requests; when a batch ends, reads
//     are chosen before waiting writes unless reads already won `writesStarved` such
//     choices in a row. Within a direction this model dispatches in arrival order (the
//     kernel goes in sector order unless the oldest request has expired);
//   none: arrival order, no preference.
// The scheduler also sets how many requests a queue holds (nr_requests): twice the
// device's tags (at most 2 x 128) with mq-deadline, the tags themselves with none.
// Pure: no timers, no I/O.
import { invariant } from './errors.ts';

export type IoDirection = 'read' | 'write';
export const IO_SCHEDULERS = ['mq-deadline', 'none'] as const;
export type IoSchedulerKind = (typeof IO_SCHEDULERS)[number];

/** mq-deadline's defaults (block/mq-deadline.c). */
export const DEADLINE_FIFO_BATCH = 16;
export const DEADLINE_WRITES_STARVED = 2;
/** BLKDEV_DEFAULT_RQ: the scheduler's depth is twice the tags, the tags capped at this. */
const BLKDEV_DEFAULT_RQ = 128;

/** The requests a queue holds at most (sched tags): what a submitter sleeps on. */
export function nrRequests(kind: IoSchedulerKind, tags: number): number {
  invariant(Number.isInteger(tags) && tags >= 1, `tags must be a positive integer, got ${tags}`);
  return kind === 'mq-deadline' ? 2 * Math.min(tags, BLKDEV_DEFAULT_RQ) : tags;
}

export interface IoRequest {
  readonly dir: IoDirection;
}

export class IoScheduler<R extends IoRequest> {
  private readonly fifo: Record<IoDirection, R[]> = { read: [], write: [] };
  /** As in dd_init_sched: the first dispatch may continue a "write batch". */
  private lastDir: IoDirection = 'write';
  private batching = 0;
  private starved = 0;

  constructor(
    readonly kind: IoSchedulerKind,
    private readonly fifoBatch = DEADLINE_FIFO_BATCH,
    private readonly writesStarved = DEADLINE_WRITES_STARVED,
  ) {}

  /** Requests waiting to be dispatched. */
  get size(): number {
    return this.fifo.read.length + this.fifo.write.length;
  }

  /** Queues a request; `atHead` for one sent back (requeued after a lost connection). */
  insert(rq: R, atHead = false): void {
    // With `none` both directions share one order: keep everything in one list.
    const list = this.kind === 'none' ? this.fifo.write : this.fifo[rq.dir];
    if (atHead) list.unshift(rq);
    else list.push(rq);
  }

  /** The next request to hand to the driver, or undefined if none waits. */
  dispatch(): R | undefined {
    if (this.kind === 'none') return this.fifo.write.shift();
    // Continue the current batch while its direction has requests.
    if (this.batching < this.fifoBatch && this.fifo[this.lastDir].length > 0) {
      this.batching++;
      return this.fifo[this.lastDir].shift();
    }
    let dir: IoDirection;
    if (this.fifo.read.length > 0) {
      // Reads first, unless writes have waited through `writesStarved` read batches.
      if (this.fifo.write.length > 0 && this.starved++ >= this.writesStarved) {
        this.starved = 0;
        dir = 'write';
      } else {
        dir = 'read';
      }
    } else if (this.fifo.write.length > 0) {
      this.starved = 0;
      dir = 'write';
    } else {
      return undefined;
    }
    this.lastDir = dir;
    this.batching = 1;
    return this.fifo[dir].shift();
  }

  /** Removes every waiting request (shutdown); returns them. */
  clear(): R[] {
    return [...this.fifo.read.splice(0), ...this.fifo.write.splice(0)];
  }
}
