// A fixed-window rate limit in model time: at most `cap` callbacks run per `intervalMs`
// window, the rest wait for the next window in order (what p-queue's intervalCap does on
// the wall clock; B's pacing must run on the injected scheduler to be simulated).
import type { Scheduler, Timer } from '../../reserve/clock.ts';

export class RateWindow {
  private readonly waiting: (() => void)[] = [];
  private head = 0;
  private windowStart = -Infinity;
  private used = 0;
  private timer: Timer | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly cap: number,
    private readonly intervalMs: number,
  ) {}

  /** Callbacks waiting for a window. */
  get pending(): number {
    return this.waiting.length - this.head;
  }

  /** Runs `fn` in the first window with room (now, if this one has). */
  add(fn: () => void): void {
    this.waiting.push(fn);
    this.drain();
  }

  /** Drops every waiting callback and the timer. */
  clear(): void {
    this.waiting.length = 0;
    this.head = 0;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private drain(): void {
    const now = this.scheduler.now();
    if (now >= this.windowStart + this.intervalMs) {
      this.windowStart = now;
      this.used = 0;
    }
    while (this.used < this.cap && this.head < this.waiting.length) {
      const fn = this.waiting[this.head++] as () => void;
      this.used++;
      fn();
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (!this.timer) {
      this.timer = this.scheduler.schedule(this.windowStart + this.intervalMs - now, () => {
        this.timer = undefined;
        this.drain();
      });
    }
  }
}
