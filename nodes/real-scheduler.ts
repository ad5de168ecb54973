// Model time on a real clock. time.scale shrinks every kernel delay: with scale 0.1 a
// 5 s mempool wait takes 0.5 s of wall time and model time runs ten times faster than
// the wall. Every pending timer is cancelled by stop().
import type { Scheduler, Timer } from '../reserve/clock.ts';

export interface RealScheduler extends Scheduler {
  /** Model milliseconds per wall millisecond is 1/scale. */
  readonly scale: number;
  /** Cancels every pending timer (shutdown). */
  stop(): void;
}

export function realScheduler(scale = 1): RealScheduler {
  const start = performance.now();
  const timers = new Set<NodeJS.Timeout>();
  const immediates = new Set<NodeJS.Immediate>();
  let stopped = false;
  return {
    scale,
    now: () => (performance.now() - start) / scale,
    schedule(delayMs: number, fn: () => void): Timer {
      if (stopped) return { cancel: () => {} };
      const wall = delayMs * scale;
      if (wall < 1) {
        // Below a millisecond (setTimeout's resolution): just yield to I/O.
        const im = setImmediate(() => {
          immediates.delete(im);
          fn();
        });
        immediates.add(im);
        return {
          cancel: () => {
            clearImmediate(im);
            immediates.delete(im);
          },
        };
      }
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, wall);
      timers.add(t);
      return {
        cancel: () => {
          clearTimeout(t);
          timers.delete(t);
        },
      };
    },
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const im of immediates) clearImmediate(im);
      immediates.clear();
    },
  };
}
