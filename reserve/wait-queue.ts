// Wait queues: where model tasks sleep (pfmemalloc_wait, pool->wait, kswapd_wait, a
// full swap queue). A sleeper is woken by wakeAll()/wakeOne() or by its timeout, and
// settles exactly once.
import type { Scheduler, Timer } from './clock.ts';

export type WaitOutcome = 'woken' | 'timeout';

interface Sleeper {
  settle: (outcome: WaitOutcome) => void;
}

export class WaitQueue {
  private sleepers: Sleeper[] = [];

  constructor(private readonly scheduler: Scheduler) {}

  /** Tasks sleeping here now. */
  get waiters(): number {
    return this.sleepers.length;
  }

  /** Sleeps until woken, or until `timeoutMs` of model time passes if given. */
  wait(timeoutMs?: number): Promise<WaitOutcome> {
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      let done = false;
      const sleeper: Sleeper = {
        settle: (outcome) => {
          if (done) return;
          done = true;
          timer?.cancel();
          const i = this.sleepers.indexOf(sleeper);
          if (i >= 0) this.sleepers.splice(i, 1);
          resolve(outcome);
        },
      };
      this.sleepers.push(sleeper);
      if (timeoutMs !== undefined) {
        timer = this.scheduler.schedule(timeoutMs, () => sleeper.settle('timeout'));
      }
    });
  }

  /**
   * wait_event(_timeout): sleeps until `condition()` holds, rechecking at every wake.
   * Resolves true if the condition holds, false if `timeoutMs` ran out first.
   */
  async waitEvent(condition: () => boolean, timeoutMs?: number): Promise<boolean> {
    if (condition()) return true;
    const deadline = timeoutMs === undefined ? undefined : this.scheduler.now() + timeoutMs;
    for (;;) {
      const left = deadline === undefined ? undefined : deadline - this.scheduler.now();
      if (left !== undefined && left <= 0) return condition();
      const outcome = await this.wait(left);
      if (condition()) return true;
      if (outcome === 'timeout') return false;
    }
  }

  /** Wakes every sleeper; returns how many were woken. */
  wakeAll(): number {
    const woken = this.sleepers.slice();
    for (const s of woken) s.settle('woken');
    return woken.length;
  }

  /** Wakes the longest sleeper; returns whether there was one. */
  wakeOne(): boolean {
    const s = this.sleepers[0];
    if (!s) return false;
    s.settle('woken');
    return true;
  }
}
