import { describe, expect, it } from 'vitest';
import { ANON } from '../../reserve/anon-memory.ts';
import { GFP } from '../../reserve/gfp.ts';
import { pageContent, verifyPageContent } from '../../reserve/page-content.ts';
import { SwapSlots } from '../../reserve/swap-slots.ts';
import { makeModel, setFree } from '../helpers/model.ts';

/** Faults every page of a fresh region in, in order. */
async function fill(t: ReturnType<typeof makeModel>, pages: number) {
  const task = t.model.spawnTask('hog');
  const region = t.model.anon.map(task, pages);
  const run = (async () => {
    for (let p = region.base; p < region.base + pages; p++) {
      if (!t.model.anon.tryTouch(p)) expect(await t.model.anon.fault(task, p)).toBe('ok');
    }
  })();
  return { task, region, run };
}

/** A reclaim scan that frees every written (clean, rotated) anon page; returns how many. */
function scanWritten(t: ReturnType<typeof makeModel>): number {
  let freed = 0;
  while (t.model.anon.cleanPages > 0) {
    const page = t.model.anon.isolateVictim(null);
    expect(t.model.anon.stateOf(page)).toBe(ANON.CLEAN);
    freed += t.model.anon.freeClean(page);
  }
  return freed;
}

describe('page content', () => {
  it('is a pure function of (page, version) and detects a single flipped bit', () => {
    const a = pageContent(7, 3);
    expect(pageContent(7, 3)).toEqual(a);
    expect(verifyPageContent(a, 7, 3)).toBe(true);
    expect(verifyPageContent(a, 7, 4)).toBe(false);
    expect(verifyPageContent(a, 8, 3)).toBe(false);
    a[4000] = (a[4000] as number) ^ 1;
    expect(verifyPageContent(a, 7, 3)).toBe(false);
    expect(verifyPageContent(new Uint8Array(10), 7, 3)).toBe(false);
  });
});

describe('swap slots', () => {
  it('hands out every slot once, refuses when full, and reuses freed slots', () => {
    const slots = new SwapSlots(3);
    expect([slots.alloc(), slots.alloc(), slots.alloc(), slots.alloc()]).toEqual([0, 1, 2, -1]);
    slots.free(1);
    expect(slots.available).toBe(1);
    expect(slots.alloc()).toBe(1);
    expect(() => slots.free(9)).toThrow(/bad slot/);
  });
});

describe('reclaim of anonymous pages through writeout', () => {
  it('a working set larger than RAM is written to swap, and every page read back matches', async () => {
    const t = makeModel({ ramPages: 4096, swapPages: 8192 });
    t.model.start();
    const { task, region, run } = await fill(t, 6000);
    await t.sched.runUntilTrue(
      () => t.model.anon.stateOf(region.base + 5999) === ANON.RESIDENT,
      60_000,
    );
    await run;
    expect(t.model.stats.writeoutIssued).toBeGreaterThan(1900);
    // Touch everything again: the early pages come back from swap and are verified.
    for (let p = region.base; p < region.base + 6000; p++) {
      if (!t.model.anon.tryTouch(p)) {
        const f = t.model.anon.fault(task, p);
        await t.sched.runUntilTrue(() => t.model.anon.stateOf(p) === ANON.RESIDENT, 10_000);
        expect(await f).toBe('ok');
      }
    }
    expect(t.model.stats.swapIns).toBeGreaterThan(1900);
    expect(t.model.stats.pagesVerified).toBe(t.model.stats.swapIns);
    expect(t.model.stats.integrityErrors).toBe(0);
    expect(t.model.stats.oomKills).toBe(0);
    t.model.checkInvariants();
    t.model.stop();
  });

  it('regression: a page was freed when its writeback completed (folio_rotate_reclaimable: it stays, clean, at the reclaim end of the LRU, and a later scan frees it)', async () => {
    const t = makeModel({ ramPages: 4096, swapPages: 8192 });
    t.device.partition();
    const task = t.model.spawnTask('hog');
    const region = t.model.anon.map(task, 10);
    for (let p = region.base; p < region.base + 10; p++) await t.model.anon.fault(task, p);
    const victim = t.model.anon.isolateVictim(null);
    t.model.anon.tryTouch(region.base); // referenced pages get a second chance
    const free = t.model.zone.free;
    await t.model.anon.startWriteout(victim, task);
    expect(t.model.zone.pages('writeback')).toBe(1);
    expect(t.model.stats.writeoutIssued).toBe(1);
    await t.sched.runFor(10_000);
    expect(t.model.anon.stateOf(victim)).toBe(ANON.WRITEBACK);
    expect(t.model.zone.free).toBe(free);
    t.device.heal();
    await t.sched.runFor(5);
    expect(t.model.anon.stateOf(victim)).toBe(ANON.CLEAN);
    expect(t.model.zone.free).toBe(free);
    expect(t.model.stats.writeoutCompleted).toBe(1);
    expect(t.model.anon.reclaimFreedTotal).toBe(0);
    t.model.checkInvariants();
    // The next scan meets it first (it was rotated to the front) and frees it, no I/O.
    expect(t.model.anon.isolateVictim(null)).toBe(victim);
    expect(t.model.anon.freeClean(victim)).toBe(1);
    expect(t.model.anon.stateOf(victim)).toBe(ANON.SWAPPED);
    expect(t.model.zone.free).toBe(free + 1);
    expect(t.model.stats.writeoutIssued).toBe(1);
    expect(t.model.slots.used).toBe(1);
    expect(task.swapEntries).toBe(1);
    t.model.checkInvariants();
  });

  it('a written page touched before a scan frees it is mapped again from the swap cache: no read, slot freed', async () => {
    const t = makeModel();
    const task = t.model.spawnTask('hog');
    const region = t.model.anon.map(task, 1);
    await t.model.anon.fault(task, region.base);
    await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), task);
    await t.sched.runFor(5);
    expect(t.model.anon.stateOf(region.base)).toBe(ANON.CLEAN);
    expect(t.model.anon.tryTouch(region.base)).toBe(true);
    expect(t.model.anon.stateOf(region.base)).toBe(ANON.RESIDENT);
    expect(t.model.stats.swapIns).toBe(0);
    expect(t.model.slots.used).toBe(0);
    expect(t.model.anon.versionOf(region.base)).toBe(2);
    t.model.checkInvariants();
  });

  it('a page touched while under writeback is kept in memory when the writeout completes', async () => {
    const t = makeModel();
    const task = t.model.spawnTask('hog');
    const region = t.model.anon.map(task, 1);
    await t.model.anon.fault(task, region.base);
    const victim = t.model.anon.isolateVictim(null);
    expect(victim).toBe(region.base);
    t.device.partition();
    await t.model.anon.startWriteout(victim, task);
    expect(t.model.anon.tryTouch(victim)).toBe(true);
    t.device.heal();
    await t.sched.runFor(5);
    expect(t.model.anon.stateOf(victim)).toBe(ANON.RESIDENT);
    expect(t.model.zone.pages('writeback')).toBe(0);
    expect(t.model.slots.used).toBe(0);
    expect(t.model.anon.versionOf(victim)).toBe(2);
  });

  it('a failed write leaves the page resident and frees its slot', async () => {
    const t = makeModel();
    t.device.failWrites = true;
    const task = t.model.spawnTask('hog');
    const region = t.model.anon.map(task, 1);
    await t.model.anon.fault(task, region.base);
    const victim = t.model.anon.isolateVictim(null);
    await t.model.anon.startWriteout(victim, task);
    await t.sched.runFor(5);
    expect(t.model.anon.stateOf(victim)).toBe(ANON.RESIDENT);
    expect(t.model.stats.writeoutFailed).toBe(1);
    expect(t.model.slots.used).toBe(0);
  });

  it('duplicate and stale completions are counted and change nothing', async () => {
    const t = makeModel();
    const before = t.model.zone.snapshot();
    t.model.anon.writeoutDone(0, 0, true);
    t.model.anon.writeoutDone(-1, 3, true);
    expect(t.model.stats.staleCompletions).toBe(2);
    expect(t.model.zone.snapshot()).toEqual(before);
  });

  it('a corrupted page read back is a data-loss event', async () => {
    const t = makeModel();
    const task = t.model.spawnTask('hog');
    const region = t.model.anon.map(task, 1);
    await t.model.anon.fault(task, region.base);
    const victim = t.model.anon.isolateVictim(null);
    await t.model.anon.startWriteout(victim, task);
    await t.sched.runFor(5);
    expect(scanWritten(t)).toBe(1);
    t.device.corruptReads = true;
    const f = t.model.anon.fault(task, victim);
    await t.sched.runFor(5);
    expect(await f).toBe('integrity-error');
    expect(t.model.stats.integrityErrors).toBe(1);
    expect(t.events.some((e) => e.type === 'integrity-error' && e.page === victim)).toBe(true);
  });

  it('concurrent faults on one swapped page do a single read', async () => {
    const t = makeModel();
    const a = t.model.spawnTask('a');
    const region = t.model.anon.map(a, 1);
    await t.model.anon.fault(a, region.base);
    await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), a);
    await t.sched.runFor(5);
    expect(scanWritten(t)).toBe(1);
    const f1 = t.model.anon.fault(a, region.base);
    const f2 = t.model.anon.fault(a, region.base);
    await t.sched.runFor(5);
    expect([await f1, await f2]).toEqual(['ok', 'ok']);
    expect(t.model.stats.swapIns).toBe(1);
    expect(t.model.anon.versionOf(region.base)).toBe(3);
  });

  it('clean page cache is reclaimed before any anonymous page is written out', async () => {
    const t = makeModel();
    t.model.start();
    const reader = t.model.spawnTask('reader');
    await t.model.files.read(reader, 1000);
    const { run } = await fill(t, 100);
    await run;
    setFree(t.model, 600);
    const task = t.model.spawnTask('t');
    const p = t.model.allocator.alloc({
      gfp: GFP.KERNEL,
      ctx: { exec: 'task', task },
      use: 'kernel',
    });
    expect(t.model.stats.kswapdWakeups).toBe(1);
    await t.sched.runFor(50);
    await p;
    // kswapd balanced the zone above high from the page cache alone.
    expect(t.model.zone.free).toBeGreaterThan(768);
    expect(t.model.stats.cleanPagesReclaimed).toBeGreaterThan(0);
    expect(t.model.stats.writeoutIssued).toBe(0);
    t.model.stop();
  });

  it('the OOM reaper frees resident pages and slots, and drops in-flight pages on completion', async () => {
    const t = makeModel();
    const task = t.model.spawnTask('victim');
    const region = t.model.anon.map(task, 3);
    for (let p = region.base; p < region.base + 3; p++) await t.model.anon.fault(task, p);
    await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), task);
    await t.sched.runFor(5);
    expect(scanWritten(t)).toBe(1); // one page swapped
    t.device.partition();
    await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), task); // one in flight
    const free = t.model.zone.free;
    t.model.anon.reap(task);
    expect(t.model.zone.free).toBe(free + 1);
    expect(t.model.slots.used).toBe(1);
    t.device.heal();
    await t.sched.runFor(5);
    expect(t.model.zone.free).toBe(free + 2);
    expect(t.model.slots.used).toBe(0);
    expect(t.model.zone.pages('anon') + t.model.zone.pages('writeback')).toBe(0);
    t.model.checkInvariants();
  });
});
