// An in-memory swap device for model tests: a bounded request queue (the block layer's
// tags), a store keyed by slot, and a switch to stop completing (a partitioned server).
import type { Scheduler } from '../../reserve/clock.ts';
import type { AnonMemory } from '../../reserve/anon-memory.ts';
import { pageContent } from '../../reserve/page-content.ts';
import type { SwapDevice, SwapWriteRequest } from '../../reserve/swap-device.ts';
import type { Task } from '../../reserve/task.ts';
import { WaitQueue } from '../../reserve/wait-queue.ts';

export class FakeSwapDevice implements SwapDevice {
  readonly store = new Map<number, Uint8Array>();
  /** Requests holding a queue slot (submitted, not completed). */
  inFlight = 0;
  /** When false, requests are accepted but never complete (server partitioned). */
  responding = true;
  /** When set, writes complete with an error. */
  failWrites = false;
  /** When set, stored pages come back with one byte flipped. */
  corruptReads = false;
  readonly slotFree: WaitQueue;
  private readonly parked: Array<() => void> = [];

  constructor(
    private readonly scheduler: Scheduler,
    private readonly anon: AnonMemory,
    readonly queueDepth = 128,
    /** Model milliseconds from submission to completion. */
    readonly latencyMs = 1,
  ) {
    this.slotFree = new WaitQueue(scheduler);
  }

  async submitWrite(request: SwapWriteRequest, task: Task): Promise<void> {
    await this.acquire(task);
    const data = pageContent(request.page, request.version);
    this.whenResponding(() => {
      this.scheduler.schedule(this.latencyMs, () => {
        if (!this.failWrites) this.store.set(request.slot, data);
        this.release();
        this.anon.writeoutDone(request.page, request.slot, !this.failWrites);
      });
    });
  }

  async read(slot: number, _page: number, task: Task): Promise<Uint8Array | 'error'> {
    await this.acquire(task);
    return new Promise((resolve) => {
      this.whenResponding(() => {
        this.scheduler.schedule(this.latencyMs, () => {
          this.release();
          const stored = this.store.get(slot);
          if (!stored) return resolve('error');
          const copy = stored.slice();
          if (this.corruptReads) copy[100] = (copy[100] ?? 0) ^ 0xff;
          resolve(copy);
        });
      });
    });
  }

  /** Stops answering (requests pile up in the queue). */
  partition(): void {
    this.responding = false;
  }

  /** Answers again, starting with everything that piled up. */
  heal(): void {
    this.responding = true;
    for (const run of this.parked.splice(0)) run();
  }

  private whenResponding(run: () => void): void {
    if (this.responding) run();
    else this.parked.push(run);
  }

  private async acquire(task: Task): Promise<void> {
    while (this.inFlight >= this.queueDepth) {
      const previous = task.activity;
      task.setActivity('D:swap-queue', this.scheduler.now());
      await this.slotFree.wait();
      task.setActivity(previous, this.scheduler.now());
    }
    this.inFlight++;
  }

  private release(): void {
    this.inFlight--;
    this.slotFree.wakeOne();
  }
}
