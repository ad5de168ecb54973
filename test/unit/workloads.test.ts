// The workloads in virtual time: the hog's first pass runs flat out, later passes are
// paced, and stopping it ends its tasks and frees their memory and swap; the service
// holds each message's kernel memory for a while.
import { describe, expect, it } from 'vitest';
import type { EmuSocket } from '../../netstack/emu-socket.ts';
import { newWorkloadStats, Service, startHog } from '../../nodes/machines/workloads.ts';
import { createRng } from '../../reserve/rng.ts';
import { makeModel } from '../helpers/model.ts';

describe('the hog', () => {
  it('initialises its working set flat out, then touches pagesPerBatch per batchIntervalMs', async () => {
    const { model, sched } = makeModel();
    const stats = newWorkloadStats();
    // 2 x 1000 pages: fits in RAM, no swapping.
    startHog(
      model,
      sched,
      { tasks: 2, pages: 2000, pagesPerBatch: 10, batchIntervalMs: 100 },
      stats,
    );
    await sched.runFor(1);
    // The first pass took no model time to speak of.
    expect(stats.hogTouches).toBeGreaterThanOrEqual(2000);
    const after = stats.hogTouches;
    await sched.runFor(1000);
    // Then 10 pages per 100 ms per task: 2 x 100 in a second (give or take a batch).
    expect(stats.hogTouches - after).toBeGreaterThanOrEqual(180);
    expect(stats.hogTouches - after).toBeLessThanOrEqual(220);
  });

  it('stopping it ends its tasks and gives back their memory and swap slots', async () => {
    const { model, sched } = makeModel();
    const stats = newWorkloadStats();
    // 1.5x RAM: part of it is in swap.
    const hog = startHog(
      model,
      sched,
      { tasks: 2, pages: 98_304, pagesPerBatch: 64, batchIntervalMs: 1 },
      stats,
    );
    await sched.runFor(20_000);
    expect(model.slots.used).toBeGreaterThan(0);
    const anonBefore = model.zone.pages('anon');
    expect(anonBefore).toBeGreaterThan(60_000);
    hog.stop();
    await sched.runFor(5_000);
    expect(hog.tasks.map((t) => t.activity)).toEqual(['exited', 'exited']);
    expect(model.zone.pages('anon')).toBeLessThan(anonBefore - 60_000);
    expect(model.zone.pages('writeback')).toBe(0);
    expect(model.slots.used).toBe(0);
    model.checkInvariants();
  });
});

/** A socket that always has one more message of B's (what the service reads). */
function endlessSocket(): EmuSocket {
  const payload = new Uint8Array(1024);
  return {
    queued: 1,
    closed: false,
    onData: () => {},
    read: () => payload,
  } as unknown as EmuSocket;
}

describe('the service', () => {
  const base = {
    pages: 256,
    touchesPerMessage: 0,
    hotPages: 0,
    coldTouchRatio: 0,
    allocPagesPerMessage: 0,
    nofail: false,
    kmemPagesPerMessage: 2,
    kmemHoldMs: 1000,
  };

  it('holds each message kernel memory for kmemHoldMs: the pages held follow its rate', async () => {
    const { model, sched } = makeModel();
    const stats = newWorkloadStats();
    const service = new Service(model, sched, base, createRng(1), stats);
    service.add(endlessSocket());
    await service.start();
    await sched.runFor(3000);
    // A message every 0.05 ms of model time at most: the held pages are the last second's.
    const perSecond = (stats.serviceMessages / 3) * 2;
    expect(stats.kmemHeld).toBeGreaterThan(0.8 * perSecond);
    expect(stats.kmemHeld).toBeLessThanOrEqual(1.05 * perSecond);
    expect(model.zone.pages('kernel')).toBe(stats.kmemHeld);
    model.checkInvariants();
  });

  it('a NOFAIL page is held the same way, and idle, the service frees what expired', async () => {
    const { model, sched } = makeModel();
    const stats = newWorkloadStats();
    const opts = { ...base, kmemPagesPerMessage: 0, nofail: true, kmemHoldMs: 500 };
    const service = new Service(model, sched, opts, createRng(1), stats);
    const socket = endlessSocket();
    service.add(socket);
    await service.start();
    await sched.runFor(1000);
    expect(stats.kmemHeld).toBeGreaterThan(0);
    (socket as { queued: number }).queued = 0;
    await sched.runFor(2500);
    expect(stats.kmemHeld).toBe(0);
    expect(model.zone.pages('kernel')).toBe(0);
    service.stop();
  });
});
