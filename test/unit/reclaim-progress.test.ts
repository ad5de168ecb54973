// Direct reclaim's progress and who sleeps when reclaim frees nothing (kernel-reference.md
// section 2): sc->nr_reclaimed is the caller's own count; a page whose writeback ends is
// rotated to the reclaim end of its LRU and freed by a later scan; reclaim_throttle (5.16+)
// or congestion_wait (before) by the kind of reclaimer. 256 MiB machine, virtual time.
import { describe, expect, it } from 'vitest';
import { ANON } from '../../reserve/anon-memory.ts';
import { GFP } from '../../reserve/gfp.ts';
import { RECLAIM_THROTTLE_MS, reclaimThrottleReason } from '../../reserve/reclaim.ts';
import { PF } from '../../reserve/task.ts';
import { makeModel, setFree } from '../helpers/model.ts';

describe('direct reclaim progress is the caller’s own nr_reclaimed', () => {
  it('regression: writeback completing while a direct reclaimer slept counted as its progress', async () => {
    // Device latency 1 ms: the completions land during the reclaimer's 1-jiffy sleep.
    const t = makeModel({}, { latencyMs: 1 });
    const hog = t.model.spawnTask('hog');
    const region = t.model.anon.map(hog, 100);
    for (let p = region.base; p < region.base + 100; p++) await t.model.anon.fault(hog, p);
    for (let i = 0; i < 10; i++)
      await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), hog);
    const task = t.model.spawnTask('noio');
    // GFP_NOIO: no anon page can be added to swap, nothing clean to free yet.
    const first = t.model.reclaimer.directReclaim(task, GFP.NOIO);
    await t.sched.runFor(5);
    expect(await first).toBe(0);
    expect(t.model.anon.cleanPages).toBe(10);
    expect(t.model.reclaimer.freedTotal).toBe(0);
    // The next pass meets the ten written pages first and frees them: its own progress,
    // GFP_NOIO notwithstanding (a clean swap cache page needs no I/O).
    const second = t.model.reclaimer.directReclaim(task, GFP.NOIO);
    await t.sched.runFor(5);
    expect(await second).toBe(10);
    expect(t.model.anon.cleanPages).toBe(0);
    expect(t.model.stats.writebackFreed).toBe(10);
    t.model.checkInvariants();
  });

  it('a pass that starts writeouts reclaims nothing by itself; the pass after their completion does', async () => {
    const t = makeModel({}, { latencyMs: 1 });
    const hog = t.model.spawnTask('hog');
    const region = t.model.anon.map(hog, 100);
    for (let p = region.base; p < region.base + 100; p++) await t.model.anon.fault(hog, p);
    const task = t.model.spawnTask('kernel');
    const first = t.model.reclaimer.directReclaim(task, GFP.KERNEL);
    await t.sched.runFor(5);
    expect(await first).toBe(0);
    expect(t.model.stats.writeoutIssued).toBe(32);
    const second = t.model.reclaimer.directReclaim(task, GFP.KERNEL);
    await t.sched.runFor(5);
    expect(await second).toBe(32);
    expect(t.model.anon.stateOf(region.base)).toBe(ANON.SWAPPED);
  });
});

describe('reclaim_throttle by who sleeps (5.16+) and congestion_wait before', () => {
  it('5.16+: kswapd sleeps HZ/10 on writeback; a direct reclaimer 1 jiffy; other kernel threads never', () => {
    const r = (kind: 'kswapd' | 'direct' | 'memcg', kthread: boolean, wb: number) =>
      reclaimThrottleReason('reclaim_throttle', kind, kthread, wb);
    expect(r('kswapd', true, 1)).toBe('writeback');
    expect(r('kswapd', true, 0)).toBeNull();
    expect(r('direct', false, 1)).toBe('congested');
    expect(r('direct', false, 0)).toBe('noprogress');
    expect(r('direct', true, 1)).toBeNull();
    expect(r('direct', true, 0)).toBeNull();
    expect(r('memcg', false, 1)).toBe('congested');
    expect(r('memcg', false, 0)).toBeNull();
    expect(r('memcg', true, 1)).toBeNull();
    expect([RECLAIM_THROTTLE_MS.writeback, RECLAIM_THROTTLE_MS.congested]).toEqual([100, 1]);
  });

  it('before 5.16: congestion_wait(HZ/10) for every reclaimer while pages are under writeback, kernel threads included', () => {
    const r = (kind: 'kswapd' | 'direct' | 'memcg', kthread: boolean, wb: number) =>
      reclaimThrottleReason('congestion_wait', kind, kthread, wb);
    for (const kind of ['kswapd', 'direct', 'memcg'] as const) {
      expect(r(kind, true, 1)).toBe('writeback');
      expect(r(kind, false, 1)).toBe('writeback');
    }
    expect(r('kswapd', true, 0)).toBeNull();
    expect(r('direct', true, 0)).toBe('noprogress');
  });

  it('a kernel thread in direct reclaim under a stalled device does not sleep at all (5.16+), but sleeps HZ/10 before', async () => {
    const slept: Record<string, number> = {};
    for (const style of ['reclaim_throttle', 'congestion_wait'] as const) {
      const t = makeModel({ reclaimThrottle: style }, { latencyMs: 1 });
      const hog = t.model.spawnTask('hog');
      const region = t.model.anon.map(hog, 100);
      for (let p = region.base; p < region.base + 100; p++) await t.model.anon.fault(hog, p);
      t.device.partition();
      for (let i = 0; i < 10; i++)
        await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), hog);
      const kthread = t.model.tasks.spawn('kcryptd', { flags: PF.KTHREAD, oomScoreAdj: -1000 });
      const start = t.sched.now();
      let end = -1;
      void t.model.reclaimer.directReclaim(kthread, GFP.NOIO).then(() => (end = t.sched.now()));
      await t.sched.runFor(200);
      slept[style] = end - start;
    }
    expect(slept).toEqual({ reclaim_throttle: 0, congestion_wait: 100 });
  });
});

describe('throttle_vm_writeout (until 4.9, seed 000)', () => {
  /** A model with `writeback` pages under writeback that never complete, and `free` free. */
  async function withWriteback(writeback: number) {
    const t = makeModel({ throttleVmWriteout: { dirtyRatio: 20 } }, { latencyMs: 1 });
    const hog = t.model.spawnTask('hog');
    const region = t.model.anon.map(hog, writeback + 10);
    for (let p = region.base; p < region.base + writeback + 10; p++)
      await t.model.anon.fault(hog, p);
    t.device.partition();
    for (let i = 0; i < writeback; i++)
      await t.model.anon.startWriteout(t.model.anon.isolateVictim(null), hog);
    return t;
  }

  it('waits HZ/10 once for GFP_NOIO exactly when writeback exceeds dirty_ratio of dirtyable memory plus 10%', async () => {
    const t = await withWriteback(100);
    // Dirtyable = free pages (no page cache): threshold = 20% of free, plus a tenth.
    const task = t.model.tasks.spawn('kcryptd', { flags: PF.KTHREAD, oomScoreAdj: -1000 });
    const thresholdAt = (free: number) => {
      const x = Math.floor((20 * free) / 100);
      return x + Math.floor(x / 10);
    };
    // 100 writeback pages: at 460 free pages the threshold is 92 + 9 = 101 (no wait), at
    // 450 it is 90 + 9 = 99 (one wait).
    expect(thresholdAt(460)).toBe(101);
    expect(thresholdAt(450)).toBe(99);
    const waitFor = async (free: number) => {
      setFree(t.model, free);
      expect(t.model.reclaimer.vmWriteoutThreshold(20)).toBe(thresholdAt(free));
      const start = t.sched.now();
      let end = -1;
      void t.model.reclaimer.throttleVmWriteout(GFP.NOIO, task).then(() => (end = t.sched.now()));
      await t.sched.runFor(1000);
      return end - start;
    };
    expect(await waitFor(460)).toBe(0);
    expect(await waitFor(450)).toBe(100);
    expect(t.model.stats.throttleVmWriteoutWaits).toBe(1);
    expect(t.model.stats.throttleVmWriteoutMs).toBe(100);
    expect(t.model.stats.throttleVmWriteoutKthreadMs).toBe(100);
    // GFP_KERNEL (__GFP_FS and __GFP_IO) keeps waiting while writeback stays high.
    let done = false;
    void t.model.reclaimer.throttleVmWriteout(GFP.KERNEL, task).then(() => (done = true));
    await t.sched.runFor(1000);
    expect(done).toBe(false);
    expect(task.activity).toBe('D:throttle-vm-writeout');
    // A PF_LESS_THROTTLE task is exempt.
    const less = t.model.tasks.spawn('kcryptd2', {
      flags: PF.KTHREAD | PF.LESS_THROTTLE,
      oomScoreAdj: -1000,
    });
    let lessDone = false;
    void t.model.reclaimer.throttleVmWriteout(GFP.NOIO, less).then(() => (lessDone = true));
    await t.sched.runFor(0);
    expect(lessDone).toBe(true);
  });

  it('is not in modern kernels (no config): no wait whatever the writeback', async () => {
    const t = makeModel({}, { latencyMs: 1 });
    const task = t.model.spawnTask('x');
    setFree(t.model, 100);
    let done = false;
    void t.model.reclaimer.throttleVmWriteout(GFP.NOIO, task).then(() => (done = true));
    await t.sched.runFor(0);
    expect(done).toBe(true);
  });
});
