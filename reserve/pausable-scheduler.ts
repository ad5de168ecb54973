// A machine's view of a shared scheduler that can be frozen: what SIGSTOP does to a
// process. While paused, callbacks that come due are held; resume runs them in the order
// they came due, as soon as possible. Used by the simulation for the `pause` fault.
import { afterCurrent, type Scheduler, type Timer } from './clock.ts';

/** One callback scheduled through the view (a class, not closures: this is a hot path). */
class Held implements Timer {
  cancelled = false;
  inner: Timer | undefined;

  constructor(
    private readonly view: PausableScheduler,
    readonly fn: () => void,
  ) {}

  /** An arrow property, not a method: the inner scheduler calls it unbound. */
  readonly fire = (): void => {
    if (this.cancelled) return;
    if (this.view.isPaused) this.view.hold(this);
    else this.fn();
  };

  cancel(): void {
    this.cancelled = true;
    this.inner?.cancel();
  }
}

export class PausableScheduler implements Scheduler {
  private paused = false;
  private held: Held[] = [];

  constructor(private readonly inner: Scheduler) {}

  get isPaused(): boolean {
    return this.paused;
  }

  now(): number {
    return this.inner.now();
  }

  schedule(delayMs: number, fn: () => void): Timer {
    const entry = new Held(this, fn);
    entry.inner = this.inner.schedule(delayMs, entry.fire);
    return entry;
  }

  /** As Scheduler.defer; held like any callback if the machine is paused when it runs. */
  defer(fn: () => void): void {
    const entry = new Held(this, fn);
    afterCurrent(this.inner, entry.fire);
  }

  /** Keeps a callback that came due while paused (called by the callback itself). */
  hold(entry: Held): void {
    this.held.push(entry);
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
    for (const entry of held) {
      entry.inner = this.inner.schedule(0, () => {
        if (!entry.cancelled) entry.fn();
      });
    }
  }
}
