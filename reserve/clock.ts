// Time for the model: one interface gives now() in milliseconds and schedule(). The
// same model code runs against a real-time scheduler (nodes/) or a virtual one (tests,
// simulation). Kernel delays are in jiffies, HZ = 1000, so 1 jiffy = 1 ms.

/** A cancellable scheduled callback. */
export interface Timer {
  cancel(): void;
}

/** The clock and timer source injected into every model component. */
export interface Scheduler {
  /** Current model time in milliseconds. */
  now(): number;
  /** Runs `fn` after `delayMs` of model time (0 = as soon as possible, after the caller). */
  schedule(delayMs: number, fn: () => void): Timer;
  /**
   * Runs `fn` once the callback running now and the promise continuations it caused are
   * done, before any other timer. Optional: without it, afterCurrent() uses schedule(0).
   */
  defer?(fn: () => void): void;
}

/**
 * Runs `fn` at the end of the current callback (Scheduler.defer), else as soon as
 * possible after it. For work that gathers what one event caused (the ACKs and replies
 * a received chunk causes, written together): in the simulation it costs no event.
 */
export function afterCurrent(scheduler: Scheduler, fn: () => void): void {
  if (scheduler.defer) scheduler.defer(fn);
  else scheduler.schedule(0, fn);
}

/** Resolves after `ms` of model time. */
export function sleep(scheduler: Scheduler, ms: number): Promise<void> {
  return new Promise((resolve) => {
    scheduler.schedule(ms, resolve);
  });
}
