// The real swap driver (nodes/machines/swap-driver.ts) on A's model and stack, against a
// real machine C over the in-memory network, in virtual time: a write completes only on
// C's reply; a full queue puts the submitter in D:swap-queue until a completion; a
// dropped connection requeues what was in flight at the head and sends it again on the
// next socket; a read returns exactly the bytes C holds; dm-crypt takes a bounce page per
// write and gives it back at completion.
import { describe, expect, it } from 'vitest';
import { Mempool } from '../../reserve/mempool.ts';
import { ANON } from '../../reserve/anon-memory.ts';
import { pageContent } from '../../reserve/page-content.ts';
import { PF } from '../../reserve/task.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';
import { swapRig, type SwapRig } from '../helpers/swap-rig.ts';

/** Starts the writeout of each page (in order) without waiting for a queue slot. */
function writeOut(rig: SwapRig, pages: readonly number[]): Promise<boolean>[] {
  return pages.map((p) => rig.model.anon.startWriteout(p, rig.owner));
}

/** The slot C stored `page` in (its last write). */
function slotOf(rig: SwapRig, page: number): number {
  const w = rig.store.writes.filter((x) => x.page === page).at(-1);
  if (!w) throw new Error(`page ${page} never reached C`);
  return w.slot;
}

describe('the swap driver against machine C', () => {
  it('a write completes only when C replies: stored at C with its reply held, the page stays in writeback', async () => {
    const rig = await swapRig();
    await rig.connect();
    const pages = await rig.residentPages(4);
    const freeBefore = rig.model.zone.free;
    // C receives and stores, but its replies (and ACKs) are held in its gate.
    rig.c.gate.apply({ mode: 'stall', direction: 'out' });
    await Promise.all(writeOut(rig, pages));
    await rig.sched.runFor(5000);
    expect(rig.store.writes.map((w) => w.page)).toEqual(pages);
    expect(rig.store.pages).toBe(4);
    expect(rig.driver.stats.writesCompleted).toBe(0);
    expect(rig.model.zone.pages('writeback')).toBe(4);
    for (const p of pages) expect(rig.model.anon.stateOf(p)).toBe(ANON.WRITEBACK);
    rig.c.gate.heal();
    await rig.sched.runFor(50);
    expect(rig.driver.stats.writesCompleted).toBe(4);
    expect(rig.driver.stats.errors).toBe(0);
    expect(rig.model.zone.pages('writeback')).toBe(0);
    // folio_end_writeback -> folio_rotate_reclaimable: each page is a clean swap-cache page
    // at the reclaim end of its LRU, freed by a later scan, not at completion.
    for (const p of pages) expect(rig.model.anon.stateOf(p)).toBe(ANON.CLEAN);
    expect(rig.model.zone.free).toBe(freeBefore);
    for (const p of pages) rig.model.anon.freeClean(p);
    for (const p of pages) expect(rig.model.anon.stateOf(p)).toBe(ANON.SWAPPED);
    expect(rig.model.zone.free).toBe(freeBefore + 4);
    expect(rig.model.stats.writeoutCompleted).toBe(4);
    rig.model.checkInvariants();
  });

  it('a full queue (nr_requests) puts the submitter in D:swap-queue until a request completes', async () => {
    // Without a scheduler the queue holds the driver's tags: one request.
    const rig = await swapRig({ queueDepth: 1, ioScheduler: 'none' });
    expect(rig.driver.nrRequests).toBe(1);
    const [p1, p2] = (await rig.residentPages(2)) as [number, number];
    const second = rig.model.tasks.spawn('second');
    // No swap connection yet: the first request waits in the queue, holding its tag.
    await rig.model.anon.startWriteout(p1, rig.owner);
    let queued = false;
    const blocked = rig.model.anon.startWriteout(p2, second).then(() => (queued = true));
    await rig.sched.runFor(10_000);
    expect(queued).toBe(false);
    expect(second.activity).toBe('D:swap-queue');
    expect(rig.driver.stats.waitingSubmitters).toBe(1);
    expect(rig.driver.stats.inFlight).toBe(1);
    // C answers the first: its tag goes to the sleeper, whose write follows.
    await rig.connect();
    await rig.sched.runFor(50);
    await blocked;
    expect(queued).toBe(true);
    expect(second.activity).not.toBe('D:swap-queue');
    expect(rig.driver.stats.waitingSubmitters).toBe(0);
    expect(rig.driver.stats.writesCompleted).toBe(2);
    expect(rig.store.writes.map((w) => w.page)).toEqual([p1, p2]);
  });

  it('mq-deadline holds twice the tags: the submitter sleeps only beyond 2 x queueDepth', async () => {
    const rig = await swapRig({ queueDepth: 2 });
    expect(rig.driver.nrRequests).toBe(4);
    const pages = await rig.residentPages(5);
    const tasks = pages.map((_, i) => rig.model.tasks.spawn(`t${i}`));
    const done = pages.map((p, i) => rig.model.anon.startWriteout(p, tasks[i]!));
    await rig.sched.runFor(100);
    expect(tasks.map((t) => t.activity === 'D:swap-queue')).toEqual([
      false,
      false,
      false,
      false,
      true,
    ]);
    await rig.connect();
    await rig.sched.runFor(100);
    await Promise.all(done);
    expect(rig.driver.stats.writesCompleted).toBe(5);
  });

  it('a dropped connection requeues what was in flight at the head and sends it again on the next socket, in order (regression: requeued requests were sent in reverse)', async () => {
    // Two driver tags, four requests: two sent on the first socket, two waiting behind.
    const rig = await swapRig({ queueDepth: 2 });
    await rig.connect();
    const pages = await rig.residentPages(4);
    // C throws away what A sends: the first two never reach its store.
    rig.c.gate.apply({ mode: 'blackhole', direction: 'in' });
    await Promise.all(writeOut(rig, pages));
    await rig.sched.runFor(1000);
    expect(rig.driver.stats.dispatched).toBe(2);
    expect(rig.driver.stats.queued).toBe(2);
    expect(rig.store.writes).toEqual([]);
    // C resets its connections (and refuses new ones until healed).
    rig.c.gate.apply({ mode: 'reset' });
    await rig.sched.runFor(10);
    expect(rig.driver.connected).toBe(false);
    rig.c.gate.heal();
    await rig.connect();
    await rig.sched.runFor(100);
    expect(rig.driver.stats.resends).toBe(2);
    // The two sent on the lost socket go first, in their order, then the two behind them.
    expect(rig.store.writes.map((w) => w.page)).toEqual(pages);
    expect(rig.driver.stats.writesCompleted).toBe(4);
    expect(rig.model.zone.pages('writeback')).toBe(0);
    expect(rig.model.stats.writeoutCompleted).toBe(4);
    expect(rig.driver.stats.staleReplies).toBe(0);
    rig.model.checkInvariants();
  });

  it("a reply lost with its connection is answered again: C's second reply completes the write once", async () => {
    const rig = await swapRig();
    await rig.connect();
    const [page] = (await rig.residentPages(1)) as [number];
    // C stores the page but its reply is thrown away, then the connection is reset. (A
    // stall would not do: replacing it by the reset heals it first, which sends the reply.)
    rig.c.gate.apply({ mode: 'blackhole', direction: 'out' });
    await rig.model.anon.startWriteout(page, rig.owner);
    await rig.sched.runFor(100);
    expect(rig.store.writes).toHaveLength(1);
    rig.c.gate.apply({ mode: 'reset' });
    await rig.sched.runFor(10);
    rig.c.gate.heal();
    await rig.connect();
    await rig.sched.runFor(100);
    expect(rig.store.writes.map((w) => w.page)).toEqual([page, page]);
    expect(rig.driver.stats.writesCompleted).toBe(1);
    expect(rig.model.stats.writeoutCompleted).toBe(1);
    expect(rig.model.anon.stateOf(page)).toBe(ANON.CLEAN);
  });

  it('a read returns exactly the page C holds, and the model verifies it on swap-in', async () => {
    const rig = await swapRig();
    await rig.connect();
    const pages = await rig.residentPages(3);
    // Touch the middle page again: version 2.
    await rig.model.anon.fault(rig.owner, pages[1]!);
    const versions = pages.map((p) => rig.model.anon.versionOf(p));
    expect(versions).toEqual([1, 2, 1]);
    await Promise.all(writeOut(rig, pages));
    await rig.sched.runFor(50);
    expect(rig.driver.stats.writesCompleted).toBe(3);
    const reader = rig.model.tasks.spawn('reader');
    for (const [i, p] of pages.entries()) {
      const read = rig.driver.read(slotOf(rig, p), p, reader);
      await rig.sched.runFor(50);
      const data = await read;
      expect(data).toEqual(pageContent(p, versions[i]!));
    }
    expect(rig.driver.stats.readsCompleted).toBe(3);
    // A later scan frees the clean swap-cache copy; a fault then reads it through the
    // driver and checks it.
    rig.model.anon.freeClean(pages[1]!);
    const fault = rig.model.anon.fault(rig.owner, pages[1]!);
    await rig.sched.runFor(50);
    expect(await fault).toBe('ok');
    expect(rig.model.stats.pagesVerified).toBe(1);
    expect(rig.model.stats.integrityErrors).toBe(0);
    expect(rig.model.anon.stateOf(pages[1]!)).toBe(ANON.RESIDENT);
  });

  it('a read returns bytes that are no page content verbatim; an empty or out-of-range slot is an error', async () => {
    const rig = await swapRig({ storeSlots: 100 });
    await rig.connect();
    const odd = new Uint8Array(PAGE_SIZE);
    for (let i = 0; i < PAGE_SIZE; i++) odd[i] = (i * 7 + 3) & 0xff;
    await rig.store.write(42, 9, 9, odd);
    const reader = rig.model.tasks.spawn('reader');
    const reads = [
      rig.driver.read(42, 9, reader),
      rig.driver.read(43, 9, reader),
      rig.driver.read(100, 9, reader),
    ];
    await rig.sched.runFor(50);
    const [verbatim, empty, outOfRange] = await Promise.all(reads);
    expect(verbatim).toEqual(odd);
    expect(empty).toBe('error');
    expect(outOfRange).toBe('error');
    expect(rig.driver.stats.errors).toBe(2);
    expect(rig.c.stats.refused).toEqual({ out_of_range: 1, not_found: 1, io_error: 0 });
  });

  it('dm-crypt (pool first): each write takes a bounce page from the mempool and gives it back at completion', async () => {
    const rig = await swapRig();
    const kcryptd = rig.model.tasks.spawn('kcryptd', { flags: PF.KTHREAD });
    const pool = new Mempool(rig.model.allocator, rig.sched, { minNr: 4, strategy: 'pool-first' });
    await pool.fill({ exec: 'task', task: kcryptd });
    rig.driver.setCrypt({ pool, task: kcryptd });
    await rig.connect();
    const pages = await rig.residentPages(3);
    const kernelBefore = rig.model.zone.pages('kernel');
    rig.c.gate.apply({ mode: 'stall', direction: 'out' });
    await Promise.all(writeOut(rig, pages));
    await rig.sched.runFor(100);
    expect(rig.driver.stats.bounceAllocs).toBe(3);
    expect(pool.curr).toBe(1);
    expect(pool.stats.fromPool).toBe(3);
    rig.c.gate.heal();
    await rig.sched.runFor(50);
    expect(rig.driver.stats.writesCompleted).toBe(3);
    expect(pool.curr).toBe(4);
    expect(rig.model.zone.pages('kernel')).toBe(kernelBefore);
    rig.model.checkInvariants();
  });

  it('dm-crypt (kernel order): bounce pages come from the allocator while memory allows, and are freed at completion', async () => {
    const rig = await swapRig();
    const kcryptd = rig.model.tasks.spawn('kcryptd', { flags: PF.KTHREAD });
    const pool = new Mempool(rig.model.allocator, rig.sched, { minNr: 4, strategy: 'kernel' });
    await pool.fill({ exec: 'task', task: kcryptd });
    rig.driver.setCrypt({ pool, task: kcryptd });
    await rig.connect();
    const pages = await rig.residentPages(3);
    const kernelBefore = rig.model.zone.pages('kernel');
    rig.c.gate.apply({ mode: 'stall', direction: 'out' });
    await Promise.all(writeOut(rig, pages));
    await rig.sched.runFor(100);
    expect(pool.stats.fromAllocator).toBe(3);
    expect(pool.curr).toBe(4);
    expect(rig.model.zone.pages('kernel')).toBe(kernelBefore + 3);
    rig.c.gate.heal();
    await rig.sched.runFor(50);
    expect(rig.driver.stats.writesCompleted).toBe(3);
    expect(rig.model.zone.pages('kernel')).toBe(kernelBefore);
  });
});
