// B's pacing in model time (nodes/machines/rate-window.ts): at most `cap` callbacks run
// in any window of `intervalMs`, the rest wait for the next window, in the order added.
import { describe, expect, it } from 'vitest';
import { RateWindow } from '../../nodes/machines/rate-window.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

describe('RateWindow', () => {
  it('runs at most cap per window, in the order added', async () => {
    const sched = virtualScheduler();
    const w = new RateWindow(sched, 3, 100);
    const ran: { i: number; at: number }[] = [];
    for (let i = 0; i < 10; i++) w.add(() => ran.push({ i, at: sched.now() }));
    // The first window has room now: three ran synchronously.
    expect(ran.map((r) => r.i)).toEqual([0, 1, 2]);
    expect(w.pending).toBe(7);
    await sched.runFor(1000);
    expect(ran.map((r) => r.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ran.map((r) => r.at)).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 300]);
    expect(w.pending).toBe(0);
  });

  it('never more than cap in any window, with adds spread over time', async () => {
    const sched = virtualScheduler();
    const w = new RateWindow(sched, 2, 50);
    const at: number[] = [];
    for (let i = 0; i < 40; i++) {
      w.add(() => at.push(sched.now()));
      await sched.runFor(7);
    }
    await sched.runFor(2000);
    expect(at).toHaveLength(40);
    // Sorted by construction: callbacks keep their order and time only moves forward.
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // Fixed windows (p-queue's intervalCap): each opens at the first run 50 ms or more
    // after the previous one opened, and holds at most two runs.
    const perWindow = new Map<number, number>();
    let opened = -Infinity;
    for (const t of at) {
      if (t >= opened + 50) opened = t;
      perWindow.set(opened, (perWindow.get(opened) ?? 0) + 1);
    }
    expect(Math.max(...perWindow.values())).toBe(2);
    // Added faster than allowed: 40 runs need 20 windows.
    expect(perWindow.size).toBe(20);
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(19 * 50);
  });

  it('clear drops what waits and its timer', async () => {
    const sched = virtualScheduler();
    const w = new RateWindow(sched, 1, 100);
    const ran: number[] = [];
    for (let i = 0; i < 3; i++) w.add(() => ran.push(i));
    w.clear();
    expect(w.pending).toBe(0);
    await sched.runFor(1000);
    expect(ran).toEqual([0]);
    expect(sched.pending).toBe(0);
  });
});
