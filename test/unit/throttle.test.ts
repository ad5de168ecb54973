// Throttling of reclaimers (kernel-reference.md section 2): allow_direct_reclaim and
// throttle_direct_reclaim on pfmemalloc_wait, reclaim_throttle's timeouts, and kswapd's
// wake/sleep/give-up rules. 256 MiB machine: min 512, low 640, high 768. Virtual time,
// nothing random.
import { describe, expect, it } from 'vitest';
import { __GFP, GFP, gfpOr, type GfpMask } from '../../reserve/gfp.ts';
import type { MemoryModel } from '../../reserve/memory-model.ts';
import type { AllocRequest, AllocResult } from '../../reserve/page-allocator.ts';
import { memallocRetryWaitMs, RECLAIM_THROTTLE_MS } from '../../reserve/reclaim.ts';
import { PF, type Task } from '../../reserve/task.ts';
import { HZ, MAX_RECLAIM_RETRIES, SWAP_CLUSTER_MAX } from '../../reserve/units.ts';
import { makeModel, setFree, type TestModel } from '../helpers/model.ts';

const HIGH = 768;

interface PendingAlloc {
  readonly promise: Promise<AllocResult>;
  result?: AllocResult;
}

/** Starts a (possibly sleeping) allocation in task context; the test then advances time. */
function startAlloc(model: MemoryModel, task: Task, gfp: GfpMask): PendingAlloc {
  const req: AllocRequest = { gfp, ctx: { exec: 'task', task }, use: 'kernel' };
  const pending: { promise: Promise<AllocResult>; result?: AllocResult } = {
    promise: model.allocator.alloc(req).then((r) => (pending.result = r)),
  };
  return pending;
}

/** One GFP_KERNEL allocation that does not sleep (fast path or the slow path at min). */
function allocNow(model: MemoryModel, task: Task): AllocResult | undefined {
  return model.allocator.tryAlloc({ gfp: GFP.KERNEL, ctx: { exec: 'task', task }, use: 'kernel' });
}

/** Maps `n` pages for `task` and faults every one in (memory is plentiful at this point). */
async function faultIn(model: MemoryModel, task: Task, n: number): Promise<void> {
  const region = model.anon.map(task, n);
  for (let i = 0; i < n; i++) expect(await model.anon.fault(task, region.base + i)).toBe('ok');
}

/** Starts `n` writeouts of resident anon pages (they complete only if the device answers). */
async function startWriteouts(t: TestModel, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const page = t.model.anon.isolateVictim(null);
    expect(page).toBeGreaterThanOrEqual(0);
    expect(await t.model.anon.startWriteout(page, t.model.kworker)).toBe(true);
  }
}

/**
 * The swap-over-network deadlock, set up: a 1000-page hog (reclaimable anon), kswapd
 * running, the swap device partitioned with a queue of 4, and 256 free pages (half of
 * min: allow_direct_reclaim is false).
 */
async function stuckSwap(pfmemallocThrottle: boolean) {
  const t = makeModel({ pfmemallocThrottle }, { queueDepth: 4 });
  const hog = t.model.spawnTask('hog');
  await faultIn(t.model, hog, 1000);
  t.model.start();
  t.device.partition();
  setFree(t.model, 256);
  return { ...t, hog, t0: t.sched.now() };
}

describe('allow_direct_reclaim', () => {
  async function withAnon() {
    const t = makeModel({ pfmemallocThrottle: true });
    await faultIn(t.model, t.model.spawnTask('hog'), 100);
    return t;
  }

  it('is ok when free pages are above half the min watermark: 257 with min 512 is ok, 256 is not', async () => {
    const { model } = await withAnon();
    setFree(model, 257);
    expect(model.throttle.allowDirectReclaim()).toBe(true);
    setFree(model, 256);
    expect(model.throttle.allowDirectReclaim()).toBe(false);
  });

  it('when not ok it wakes kswapd if kswapd sleeps, and only then', async () => {
    const { model } = await withAnon();
    model.start();
    setFree(model, 257);
    expect(model.throttle.allowDirectReclaim()).toBe(true);
    expect(model.kswapd.sleeping).toBe(true);
    expect(model.stats.kswapdWakeups).toBe(0);
    setFree(model, 256);
    expect(model.throttle.allowDirectReclaim()).toBe(false);
    expect(model.kswapd.sleeping).toBe(false);
    expect(model.stats.kswapdWakeups).toBe(1);
    // kswapd is awake now: a second check wakes nobody.
    expect(model.throttle.allowDirectReclaim()).toBe(false);
    expect(model.stats.kswapdWakeups).toBe(1);
    model.stop();
  });

  it('is ok below half of min once kswapd has failed 16 times (15 is not enough)', async () => {
    const { model } = await withAnon();
    setFree(model, 256);
    model.kswapd.failures = MAX_RECLAIM_RETRIES - 1;
    expect(model.throttle.allowDirectReclaim()).toBe(false);
    model.kswapd.failures = MAX_RECLAIM_RETRIES;
    expect(model.throttle.allowDirectReclaim()).toBe(true);
  });

  it('a zone with no reclaimable pages does not count: nothing to protect, always ok', () => {
    const { model } = makeModel({ pfmemallocThrottle: true });
    setFree(model, 10);
    expect(model.throttle.allowDirectReclaim()).toBe(true);
  });

  it('pages under writeback are reclaimable pages (zone_reclaimable_pages counts the LRUs): a zone whose anon memory is all in flight still throttles', async () => {
    const t = makeModel({ pfmemallocThrottle: true }, { queueDepth: 256 });
    await faultIn(t.model, t.model.spawnTask('hog'), 100);
    t.device.partition();
    await startWriteouts(t, 100);
    expect(t.model.zone.pages('anon')).toBe(0);
    expect(t.model.zone.pages('writeback')).toBe(100);
    setFree(t.model, 256);
    expect(t.model.throttle.allowDirectReclaim()).toBe(false);
  });
});

describe('throttle_direct_reclaim (pfmemalloc_wait)', () => {
  it('with __GFP_FS a direct reclaimer waits with no timeout (still waiting after 10 s, and after free pages rise with nobody waking it) until kswapd makes progress', async () => {
    const { model, sched, device, t0 } = await stuckSwap(true);
    const svc = model.spawnTask('svc');
    const a = startAlloc(model, svc, GFP.KERNEL);
    await sched.runFor(10_000);
    expect(svc.activity).toBe('D:pfmemalloc-throttle');
    expect(svc.activitySince).toBe(t0);
    expect(model.stats.directReclaimThrottled).toBe(1);
    // kswapd is stuck on the full swap queue: no progress, no wake-up.
    expect(model.kswapd.task.activity).toBe('D:swap-queue');
    // Memory freed elsewhere does not wake pfmemalloc_wait: only kswapd does.
    setFree(model, 400);
    await sched.runFor(5000);
    expect(svc.activity).toBe('D:pfmemalloc-throttle');
    expect(a.result).toBeUndefined();

    const healAt = sched.now();
    device.heal();
    expect(await sched.runUntilTrue(() => svc.activity !== 'D:pfmemalloc-throttle', 1000)).toBe(
      true,
    );
    expect(svc.activitySince).toBeGreaterThan(healAt);
    expect(model.stats.writeoutCompleted).toBeGreaterThan(0);
    expect(await sched.runUntilTrue(() => a.result !== undefined, 5000)).toBe(true);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.stats.directReclaimThrottled).toBe(1);
    expect(model.stats.oomKills).toBe(0);
    model.stop();
  });

  it.each<[string, GfpMask, string]>([
    ['GFP_NOFS', GFP.NOFS, 'D:swap-queue'],
    ['GFP_NOIO', GFP.NOIO, 'D:reclaim-throttle'],
  ])(
    'without __GFP_FS (%s) it waits at most HZ: still throttled at 999 ms, reclaiming at exactly 1000 ms',
    async (_name, gfp, after) => {
      const { model, sched, t0 } = await stuckSwap(true);
      expect(HZ).toBe(1000);
      const svc = model.spawnTask('svc');
      startAlloc(model, svc, gfp);
      await sched.runFor(HZ - 1);
      expect(svc.activity).toBe('D:pfmemalloc-throttle');
      expect(svc.activitySince).toBe(t0);
      expect(model.stats.directReclaimThrottled).toBe(1);
      await sched.runFor(1);
      expect(svc.activity).toBe(after);
      expect(svc.activitySince).toBe(t0 + HZ);
      model.stop();
    },
  );

  it('a kernel thread (PF_KTHREAD) is never throttled: it goes straight into reclaim', async () => {
    const { model, sched, t0 } = await stuckSwap(true);
    const jbd2 = model.tasks.spawn('jbd2', { flags: PF.KTHREAD });
    startAlloc(model, jbd2, GFP.KERNEL);
    await sched.runFor(10);
    expect(model.stats.directReclaimThrottled).toBe(0);
    expect(jbd2.activity).toBe('D:swap-queue');
    expect(jbd2.activitySince).toBe(t0);
    model.stop();
  });

  it('a task with a fatal signal already pending is not throttled: it goes on to reclaim', async () => {
    const { model, sched, t0 } = await stuckSwap(true);
    const dying = model.spawnTask('dying');
    dying.killed = true;
    startAlloc(model, dying, GFP.KERNEL);
    await sched.runFor(10);
    expect(model.stats.directReclaimThrottled).toBe(0);
    expect(dying.activity).toBe('D:swap-queue');
    expect(dying.activitySince).toBe(t0);
    model.stop();
  });

  it('with the pfmemalloc throttle off (before 3.6) nobody is throttled', async () => {
    const { model, sched, t0 } = await stuckSwap(false);
    const svc = model.spawnTask('svc');
    startAlloc(model, svc, GFP.KERNEL);
    await sched.runFor(10);
    expect(model.stats.directReclaimThrottled).toBe(0);
    expect(svc.activity).toBe('D:swap-queue');
    expect(svc.activitySince).toBe(t0);
    model.stop();
  });
});

describe('reclaim_throttle timeouts', () => {
  it('RECLAIM_THROTTLE_MS: writeback HZ/10 = 100 ms, isolated HZ/50 = 20 ms, no progress 1 jiffy', () => {
    expect(RECLAIM_THROTTLE_MS.writeback).toBe(HZ / 10);
    expect(RECLAIM_THROTTLE_MS.writeback).toBe(100);
    expect(RECLAIM_THROTTLE_MS.isolated).toBe(HZ / 50);
    expect(RECLAIM_THROTTLE_MS.isolated).toBe(20);
    expect(RECLAIM_THROTTLE_MS.noprogress).toBe(1);
  });

  it('VMSCAN_THROTTLE_CONGESTED falls through to the no-progress case: 1 jiffy, not HZ/10', () => {
    expect(RECLAIM_THROTTLE_MS.congested).toBe(1);
  });

  it.each<[keyof typeof RECLAIM_THROTTLE_MS & string, number]>([
    ['writeback', 100],
    ['isolated', 20],
    ['noprogress', 1],
  ])(
    'reason %s: a sleep nobody ends early lasts exactly %i ms, in D:reclaim-throttle',
    async (reason, ms) => {
      const { model, sched } = makeModel();
      // Dirty page cache: write-pending pages exceed half the reclaimable ones, the
      // condition under which the kernel's no-progress throttle really sleeps.
      const writer = model.spawnTask('writer');
      await model.files.read(writer, 100);
      model.files.dirty(100);
      const task = model.spawnTask('reclaimer');
      const t0 = sched.now();
      let wokeAt = -1;
      void model.reclaimer.reclaimThrottle(reason, task).then(() => (wokeAt = sched.now()));
      await sched.runFor(ms - 1);
      expect(task.activity).toBe('D:reclaim-throttle');
      expect(wokeAt).toBe(-1);
      await sched.runFor(1);
      expect(wokeAt).toBe(t0 + ms);
      expect(task.activity).toBe('running');
      expect(model.stats.reclaimThrottleWaits).toBe(1);
    },
  );

  /**
   * One or more tasks sleep on writeback while `completions` writeouts complete 1 ms
   * later; returns when each sleeper woke, relative to the start.
   */
  async function writebackSleepers(sleepers: number, completions: number): Promise<number[]> {
    const t = makeModel({}, { queueDepth: 256 });
    const { model, sched, device } = t;
    await faultIn(model, model.spawnTask('hog'), completions);
    device.partition();
    await startWriteouts(t, completions);
    const t0 = sched.now();
    const woke: number[] = [];
    for (let i = 0; i < sleepers; i++) {
      const task = model.spawnTask(`reclaimer${i}`);
      void model.reclaimer
        .reclaimThrottle('writeback', task)
        .then(() => woke.push(sched.now() - t0));
    }
    device.heal();
    await sched.runFor(200);
    expect(model.stats.writeoutCompleted).toBe(completions);
    return woke;
  }

  it('one writeback sleeper is woken early once more than SWAP_CLUSTER_MAX (32) writeouts complete: 33 wake it at the completion, 32 do not', async () => {
    expect(SWAP_CLUSTER_MAX).toBe(32);
    expect(await writebackSleepers(1, 33)).toEqual([1]);
    expect(await writebackSleepers(1, 32)).toEqual([100]);
  });

  it('with two writeback sleepers more than 2 * 32 completions are needed: 65 wake both, 64 do not', async () => {
    expect(await writebackSleepers(2, 65)).toEqual([1, 1]);
    expect(await writebackSleepers(2, 64)).toEqual([100, 100]);
  });
});

describe('kswapd', () => {
  it('an allocation that finds free pages at or below low wakes it; one that finds free above low does not (641 leaves 640 without a wake, the next at 640 wakes it)', async () => {
    const { model, sched } = makeModel();
    model.start();
    const task = model.spawnTask('t');
    setFree(model, 641);
    expect(allocNow(model, task)?.ok).toBe(true);
    expect(model.zone.free).toBe(640);
    expect(model.stats.kswapdWakeups).toBe(0);
    expect(model.kswapd.sleeping).toBe(true);
    expect(allocNow(model, task)?.ok).toBe(true);
    expect(model.stats.kswapdWakeups).toBe(1);
    await sched.runFor(1);
    model.stop();
  });

  it('wakeup_kswapd does nothing while the node is balanced (free above high): 769 free pages no wake, 768 a wake', () => {
    const { model } = makeModel();
    model.start();
    setFree(model, HIGH + 1);
    model.kswapd.wake();
    expect(model.stats.kswapdWakeups).toBe(0);
    setFree(model, HIGH);
    model.kswapd.wake();
    expect(model.stats.kswapdWakeups).toBe(1);
    model.stop();
  });

  it('once woken it reclaims until free pages are above high, then sleeps', async () => {
    const { model, sched } = makeModel();
    await model.files.read(model.spawnTask('reader'), 2000);
    model.start();
    setFree(model, 640);
    expect(allocNow(model, model.spawnTask('t'))?.ok).toBe(true);
    expect(model.stats.kswapdWakeups).toBe(1);
    await sched.runFor(10);
    expect(model.zone.free).toBeGreaterThan(HIGH);
    expect(model.kswapd.sleeping).toBe(true);
    expect(model.kswapd.task.activity).toBe('sleeping');
    expect(model.stats.kswapdRuns).toBe(1);
    // It stops at balance: most of the page cache is still there.
    expect(model.zone.pages('file_clean')).toBeGreaterThan(1500);
    model.stop();
  });

  it("after 16 consecutive runs that free nothing it gives up ('kswapd-gave-up'); one wake-up is enough because it does not sleep while the node is neither balanced nor hopeless", async () => {
    const { model, sched, events } = makeModel();
    model.start();
    setFree(model, 600);
    expect(allocNow(model, model.spawnTask('t'))?.ok).toBe(true);
    await sched.runFor(10);
    expect(model.kswapd.failures).toBe(MAX_RECLAIM_RETRIES);
    expect(model.stats.kswapdRuns).toBe(MAX_RECLAIM_RETRIES);
    expect(model.stats.kswapdWakeups).toBe(1);
    expect(model.kswapd.sleeping).toBe(true);
    expect(events.filter((e) => e.type === 'kswapd-gave-up')).toEqual([
      expect.objectContaining({ failures: MAX_RECLAIM_RETRIES }),
    ]);
    model.stop();
  });

  it('a hopeless kswapd is no longer woken by allocations below low, until reclaim progress resets its failure count', async () => {
    const { model, sched } = makeModel();
    model.start();
    const task = model.spawnTask('t');
    setFree(model, 600);
    expect(allocNow(model, task)?.ok).toBe(true);
    await sched.runFor(10);
    expect(model.kswapd.failures).toBe(MAX_RECLAIM_RETRIES);
    for (let i = 0; i < 10; i++) expect(allocNow(model, task)?.ok).toBe(true);
    await sched.runFor(10);
    expect(model.stats.kswapdWakeups).toBe(1);
    expect(model.kswapd.sleeping).toBe(true);

    // Page cache appears; a direct reclaimer below min frees some of it.
    await model.files.read(model.spawnTask('reader'), 64);
    expect(model.stats.kswapdWakeups).toBe(1);
    setFree(model, 500);
    const a = startAlloc(model, task, GFP.KERNEL);
    await sched.runFor(1);
    expect(a.result).toEqual({ ok: true, pfmemalloc: false });
    expect(model.stats.cleanPagesReclaimed).toBeGreaterThan(0);
    expect(model.kswapd.failures).toBe(0);
    expect(model.stats.kswapdWakeups).toBe(1);
    // The next allocation below low wakes it again.
    expect(allocNow(model, task)?.ok).toBe(true);
    expect(model.stats.kswapdWakeups).toBe(2);
    await sched.runFor(10);
    model.stop();
  });
});

describe('memalloc_retry_wait', () => {
  it('sleeps one jiffy for a request that could block and retry, HZ/50 otherwise', () => {
    expect(memallocRetryWaitMs(GFP.KERNEL)).toBe(1);
    expect(memallocRetryWaitMs(GFP.NOFS)).toBe(1);
    expect(memallocRetryWaitMs(gfpOr(GFP.KERNEL, __GFP.NORETRY))).toBe(20);
    expect(memallocRetryWaitMs(GFP.NOWAIT)).toBe(20);
    expect(memallocRetryWaitMs(GFP.ATOMIC)).toBe(20);
  });
});
