// A machine's view of a shared scheduler that can be frozen: what SIGSTOP does to a
// process. While paused, callbacks that come due are held; resume runs them in the order
// they came due, as soon as possible. Used by the simulation for the `pause` fault.
import type { Scheduler, Timer } from './clock.ts';

export class PausableScheduler implements Scheduler {
  private paused = false;
  private held: (() => void)[] = [];

  constructor(private readonly inner: Scheduler) {}

  get isPaused(): boolean {
    return this.paused;
  }

  now(): number {
    return this.inner.now();
  }

  schedule(delayMs: number, fn: () => void): Timer {
    let cancelled = false;
    const run = (): void => {
      if (!cancelled) fn();
    };
    const timer = this.inner.schedule(delayMs, () => {
      if (this.paused) this.held.push(run);
      else run();
    });
    return {
      cancel: () => {
        cancelled = true;
        timer.cancel();
      },
    };
  }

  /** Freezes the machine: nothing scheduled through this view runs until resume(). */
  pause(): void {
    this.paused = true;
  }

  /** Thaws it: what came due meanwhile runs next, in order. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const fn of held) this.inner.schedule(0, fn);
  }
}
