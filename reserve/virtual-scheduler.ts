// Virtual time: a scheduler whose clock only moves when the driver says so. Used by
// unit tests and by simulation mode. Events at equal times run in the order they were
// scheduled, so a run is deterministic for a given seed.
import type { Scheduler, Timer } from './clock.ts';

/** A pending event; it is its own Timer (one object per event: a hot path). */
class Entry implements Timer {
  constructor(
    readonly at: number,
    readonly seq: number,
    public fn: (() => void) | null,
  ) {}

  cancel(): void {
    this.fn = null;
  }
}

/**
 * A deterministic event-queue scheduler. `settle` lets promise continuations run
 * between events (the driver injects it: the model itself has no notion of the
 * event loop); it defaults to a short chain of microtask yields.
 */
export class VirtualScheduler implements Scheduler {
  private time: number;
  private seq = 0;
  private readonly heap: Entry[] = [];
  /** defer()red callbacks: they run as one step before the next event. */
  private deferred: (() => void)[] = [];
  private readonly settle: () => Promise<void>;

  constructor(options: { startMs?: number; settle?: () => Promise<void> } = {}) {
    this.time = options.startMs ?? 0;
    this.settle = options.settle ?? microtaskSettle;
  }

  now(): number {
    return this.time;
  }

  /** Number of pending (not cancelled) events. */
  get pending(): number {
    let n = this.deferred.length;
    for (const e of this.heap) if (e.fn) n++;
    return n;
  }

  schedule(delayMs: number, fn: () => void): Timer {
    const entry = new Entry(this.time + Math.max(0, delayMs), this.seq++, fn);
    this.push(entry);
    return entry;
  }

  /**
   * Runs `fn` before the next event, as a step of its own (so that the driver lets the
   * continuations of the step now running settle first). Costs no timer.
   */
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Time of the next pending event (now, if work is deferred), or undefined if none. */
  nextAt(): number | undefined {
    if (this.deferred.length > 0) return this.time;
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Runs the next event synchronously; returns false when there is none. */
  step(): boolean {
    if (this.deferred.length > 0) {
      const run = this.deferred;
      this.deferred = [];
      for (const fn of run) fn();
      return true;
    }
    this.dropCancelled();
    const entry = this.pop();
    if (!entry) return false;
    this.time = Math.max(this.time, entry.at);
    const fn = entry.fn;
    entry.fn = null;
    fn?.();
    return true;
  }

  /**
   * Runs every event up to `untilMs` (inclusive), letting promise continuations settle
   * after each one, then sets the clock to `untilMs`.
   */
  async runUntil(untilMs: number): Promise<void> {
    await this.settle();
    for (;;) {
      const next = this.nextAt();
      if (next === undefined || next > untilMs) break;
      this.step();
      await this.settle();
    }
    if (this.time < untilMs) this.time = untilMs;
  }

  /** Runs for `ms` of model time from now. */
  runFor(ms: number): Promise<void> {
    return this.runUntil(this.time + ms);
  }

  /**
   * Runs until `predicate()` holds (checked after every event) or `limitMs` of model
   * time passes. Returns whether the predicate held.
   */
  async runUntilTrue(predicate: () => boolean, limitMs: number): Promise<boolean> {
    const deadline = this.time + limitMs;
    await this.settle();
    if (predicate()) return true;
    for (;;) {
      const next = this.nextAt();
      if (next === undefined || next > deadline) break;
      this.step();
      await this.settle();
      if (predicate()) return true;
    }
    if (this.time < deadline) this.time = deadline;
    return predicate();
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]?.fn === null) this.pop();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Entry;
      if (!this.less(entry, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = entry;
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && this.less(h[r] as Entry, h[l] as Entry) ? r : l;
      const c = h[child] as Entry;
      if (!this.less(c, last)) break;
      h[i] = c;
      i = child;
    }
    h[i] = last;
    return top;
  }
}

/** Lets chains of promise continuations run: enough for the model's await depth. */
async function microtaskSettle(): Promise<void> {
  for (let i = 0; i < 64; i++) await Promise.resolve();
}
