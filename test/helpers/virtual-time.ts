// Virtual time for tests: the model's VirtualScheduler, with promise continuations
// settled by a macrotask between events (the model itself never touches the event loop).
import { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';

/** Lets every pending promise continuation run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function virtualScheduler(startMs = 0): VirtualScheduler {
  return new VirtualScheduler({ startMs, settle });
}
