import { describe, expect, it } from 'vitest';
import { sleep } from '../../reserve/clock.ts';
import { WaitQueue } from '../../reserve/wait-queue.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

describe('VirtualScheduler', () => {
  it('runs events in time order, ties in scheduling order', async () => {
    const s = virtualScheduler();
    const seen: string[] = [];
    s.schedule(10, () => seen.push('b'));
    s.schedule(5, () => seen.push('a'));
    s.schedule(10, () => seen.push('c'));
    await s.runFor(20);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(s.now()).toBe(20);
  });

  it('does not run cancelled events and stops at the horizon', async () => {
    const s = virtualScheduler();
    const seen: number[] = [];
    const t = s.schedule(1, () => seen.push(1));
    s.schedule(2, () => seen.push(2));
    s.schedule(30, () => seen.push(30));
    t.cancel();
    await s.runUntil(10);
    expect(seen).toEqual([2]);
    expect(s.nextAt()).toBe(30);
  });

  it('lets async chains advance through model time', async () => {
    const s = virtualScheduler();
    const times: number[] = [];
    const task = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(s, 100);
        times.push(s.now());
      }
    })();
    await s.runFor(1000);
    await task;
    expect(times).toEqual([100, 200, 300]);
  });
});

describe('VirtualScheduler.defer', () => {
  it("runs after the current event's continuations and before the next event, even one due at the same time", async () => {
    const s = virtualScheduler();
    const ran: string[] = [];
    s.schedule(5, () => {
      ran.push('event');
      s.defer(() => ran.push('deferred'));
      void Promise.resolve()
        .then(() => undefined)
        .then(() => ran.push('continuation'));
    });
    s.schedule(5, () => ran.push('next@5'));
    expect(s.pending).toBe(2);
    await s.runFor(10);
    expect(ran).toEqual(['event', 'continuation', 'deferred', 'next@5']);
    expect(s.now()).toBe(10);
  });

  it('counts as pending and runs on step() without moving the clock', () => {
    const s = virtualScheduler(7);
    let ran = 0;
    s.defer(() => ran++);
    expect(s.pending).toBe(1);
    expect(s.nextAt()).toBe(7);
    expect(s.step()).toBe(true);
    expect(ran).toBe(1);
    expect(s.step()).toBe(false);
  });
});

describe('WaitQueue', () => {
  it('wakes sleepers, or times them out after exactly the timeout', async () => {
    const s = virtualScheduler();
    const q = new WaitQueue(s);
    const outcomes: Array<[string, number]> = [];
    void q.wait(50).then((o) => outcomes.push([o, s.now()]));
    void q.wait().then((o) => outcomes.push([o, s.now()]));
    await s.runFor(60);
    expect(outcomes).toEqual([['timeout', 50]]);
    expect(q.waiters).toBe(1);
    q.wakeAll();
    await s.runFor(1);
    expect(outcomes[1]).toEqual(['woken', 60]);
  });

  it('waitEvent rechecks its condition at every wake', async () => {
    const s = virtualScheduler();
    const q = new WaitQueue(s);
    let ready = false;
    let done = false;
    void q.waitEvent(() => ready).then(() => (done = true));
    q.wakeAll();
    await s.runFor(1);
    expect(done).toBe(false);
    ready = true;
    q.wakeAll();
    await s.runFor(1);
    expect(done).toBe(true);
  });
});
