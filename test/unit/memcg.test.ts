// Memory cgroup rules of kernel-reference.md section 7 (mm/memcontrol.c:
// try_charge_memcg, mem_cgroup_handle_over_high, calculate_high_delay), each at its
// exact boundary. Two levels: a MemcgController with scripted hooks, where the number
// of reclaim passes and OOM calls is the thing under test, and the whole memory model
// (makeModel), where pages, tasks and the OOM killer are real. No randomness.
import { describe, expect, it } from 'vitest';
import { __GFP, GFP, gfpOr, type GfpMask } from '../../reserve/gfp.ts';
import {
  MEMCG_MAX_HIGH_DELAY_JIFFIES,
  MemcgController,
  calculateHighDelay,
  calculateOverage,
  type ChargeKind,
  type MemCgroup,
  type MemcgHooks,
} from '../../reserve/memcg.ts';
import type { MemoryModel } from '../../reserve/memory-model.ts';
import type { OomOutcome } from '../../reserve/page-allocator.ts';
import { PF, TaskList, type AllocContext, type Task } from '../../reserve/task.ts';
import {
  HZ,
  MAX_RECLAIM_RETRIES,
  MEMCG_CHARGE_BATCH,
  SWAP_CLUSTER_MAX,
} from '../../reserve/units.ts';
import { makeModel, type TestModel } from '../helpers/model.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

const KERNEL_ACCOUNT_NOFS = gfpOr(GFP.NOFS, __GFP.ACCOUNT);

const inTask = (task: Task): AllocContext => ({ exec: 'task', task });

/**
 * A MemcgController whose reclaim and OOM hooks are scripted and counted. `reclaim`
 * says what each reclaim pass does (by default: frees nothing); `oom` what
 * mem_cgroup_out_of_memory returns (by default: no victim).
 */
function scripted(
  script: {
    reclaim?: (memcg: MemCgroup, pass: number) => number;
    oom?: (memcg: MemCgroup) => OomOutcome;
  } = {},
) {
  const sched = virtualScheduler();
  const tasks = new TaskList();
  const worker = tasks.spawn('kworker', { flags: PF.KTHREAD, oomScoreAdj: -1000 });
  const calls = { reclaim: 0, oom: 0, reclaimGfp: [] as GfpMask[] };
  const hooks: MemcgHooks = {
    reclaim: (memcg, _nr, gfp) => {
      calls.reclaim++;
      calls.reclaimGfp.push(gfp);
      return Promise.resolve(script.reclaim?.(memcg, calls.reclaim) ?? 0);
    },
    outOfMemory: (memcg) => {
      calls.oom++;
      return script.oom?.(memcg) ?? 'no-victim';
    },
  };
  const memcgs = new MemcgController(sched, hooks, { kmemChargeWithoutReclaim: false }, worker);
  const group = (highPages: number, maxPages: number): MemCgroup =>
    memcgs.create({ name: 'job', highPages, maxPages }, 1);
  const spawn = (name: string, memcg: MemCgroup): Task => {
    const t = tasks.spawn(name);
    t.memcg = memcg;
    return t;
  };
  return { sched, memcgs, calls, group, spawn };
}

/** Drives model time until `p` settles (at most `limitMs`), then returns its value. */
async function drive<T>(t: TestModel, p: Promise<T>, limitMs = 60_000): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  expect(await t.sched.runUntilTrue(() => settled, limitMs)).toBe(true);
  return p;
}

/** Faults in `pages` fresh anonymous pages for `task`, one after the other. */
async function faultIn(model: MemoryModel, task: Task, pages: number): Promise<void> {
  const region = model.anon.map(task, pages);
  for (let p = region.base; p < region.base + pages; p++) {
    expect(await model.anon.fault(task, p)).toBe('ok');
  }
}

/** `n` charges of one page each, in sequence (like n slab objects allocated in a row). */
async function chargeEach(
  model: MemoryModel,
  memcg: MemCgroup,
  task: Task,
  n: number,
  gfp: GfpMask,
  kind: ChargeKind,
): Promise<boolean[]> {
  const results: boolean[] = [];
  for (let i = 0; i < n; i++)
    results.push(await model.memcgs.charge(memcg, inTask(task), gfp, 1, kind));
  return results;
}

/**
 * The stage: a 16-slot swap device filled with pages of `owner` (a root task with at
 * least 16 resident pages, the only pages on the LRUs), so that no other anonymous page
 * can be reclaimed afterwards.
 */
async function fillSwapWith(t: TestModel, owner: Task): Promise<void> {
  const { model } = t;
  expect(model.slots.capacity).toBe(16);
  await model.reclaimer.shrink({
    nrToReclaim: SWAP_CLUSTER_MAX,
    gfp: GFP.KERNEL,
    task: owner,
    memcg: null,
    kswapd: false,
  });
  await t.sched.runFor(10); // the writeouts complete
  expect([model.slots.available, owner.swapEntries]).toEqual([0, 16]);
}

describe('charges come from a per-CPU stock refilled in batches of 64 pages', () => {
  it('the first 1-page charge raises usage by 64 and stocks 63; the next 63 leave usage alone; the 65th refills', async () => {
    const { model } = makeModel();
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: Infinity });
    const task = model.spawnTask('worker', { memcg: cg });
    await faultIn(model, task, 1);
    expect([cg.usage, cg.stock, cg.used]).toEqual([MEMCG_CHARGE_BATCH, 63, 1]);
    await faultIn(model, task, 63);
    expect([cg.usage, cg.stock, cg.used]).toEqual([64, 0, 64]);
    await faultIn(model, task, 1);
    expect([cg.usage, cg.stock, cg.used]).toEqual([128, 63, 65]);
    model.checkInvariants();
  });

  it('near memory.max the batch shrinks to the request: usage reaches max exactly, nothing is stocked', async () => {
    const { model } = makeModel();
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: 100 });
    const task = model.spawnTask('worker', { memcg: cg });
    await faultIn(model, task, 65); // 64 via the first batch; 64 + 64 > 100, so 1 page
    expect([cg.usage, cg.stock]).toEqual([65, 0]);
    await faultIn(model, task, 35);
    expect([cg.usage, cg.stock, cg.peak]).toEqual([100, 0, 100]);
    expect(cg.events.max).toBe(0);
  });

  it('a charge larger than the batch is charged exactly and stocks nothing', async () => {
    const { memcgs, group, spawn } = scripted();
    const cg = group(Infinity, Infinity);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 100, 'kmem')).toBe(true);
    expect([cg.usage, cg.stock]).toEqual([100, 0]);
  });
});

describe('over memory.max (try_charge_memcg)', () => {
  it('a PF_MEMALLOC task force-charges above memory.max without reclaim', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 64);
    const task = spawn('reclaimer', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    const saved = task.memallocNoreclaimSave();
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 1, 'kmem')).toBe(true);
    task.memallocNoreclaimRestore(saved);
    expect(cg.usage).toBe(65);
    expect(calls).toMatchObject({ reclaim: 0, oom: 0 });
    expect(cg.events.max).toBe(1); // force: raises MEMCG_MAX
  });

  it('a caller that cannot block fails (GFP_NOWAIT gets false): no reclaim, no OOM, usage unchanged', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 64);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    expect(await memcgs.charge(cg, inTask(task), GFP.NOWAIT, 1, 'kmem')).toBe(false);
    expect(cg.usage).toBe(64);
    expect(calls).toMatchObject({ reclaim: 0, oom: 0 });
    expect([cg.events.max, cg.events.oom]).toEqual([0, 0]);
  });

  it('a blocking charge reclaims within the cgroup and retries until the page fits', async () => {
    const s = scripted({
      // The fifth pass frees one page of the cgroup.
      reclaim: (memcg, pass) => {
        if (pass < 5) return 0;
        s.memcgs.uncharge(memcg, 1);
        return 1;
      },
    });
    const { memcgs } = s;
    const cg = s.group(Infinity, 64);
    const task = s.spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'user')).toBe(true);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 1, 'user')).toBe(true);
    expect(s.calls).toMatchObject({ reclaim: 5, oom: 0 });
    expect(cg.usage).toBe(64);
    expect(cg.events.max).toBe(1);
    // try_to_free_mem_cgroup_pages gets the caller's mask.
    expect(s.calls.reclaimGfp.every((g) => g === GFP.KERNEL)).toBe(true);
  });

  it('cgroup reclaim honours scoped NOIO (current_gfp_context): a PF_MEMALLOC_NOIO task reclaims without __GFP_IO', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 64);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    task.flags |= PF.MEMALLOC_NOIO;
    expect(await memcgs.charge(cg, inTask(task), gfpOr(GFP.KERNEL, __GFP.NORETRY), 1, 'kmem')).toBe(
      false,
    );
    expect(calls.reclaimGfp).toEqual([GFP.NOIO, GFP.NOIO].map((g) => gfpOr(g, __GFP.NORETRY)));
  });

  it('reclaim without progress: one pass, one after draining the stock, 16 retries, then memcg OOM; no victim means failure', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 65);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 1, 'user')).toBe(true);
    expect([cg.usage, cg.stock]).toEqual([64, 63]);
    // 64 + 64 > 65 and reclaim frees nothing, but draining the stock gives 63 pages
    // back: the retry after the drain fits (1 + 64 = 65).
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    expect([calls.reclaim, cg.usage, cg.stock]).toEqual([1, 65, 0]);
    calls.reclaim = 0;
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 1, 'user')).toBe(false);
    // Pass 1, pass 2 after the (empty) drain, then one per retry: 16 retries.
    expect(calls.reclaim).toBe(2 + MAX_RECLAIM_RETRIES);
    expect(calls.oom).toBe(1);
    expect([cg.events.oom, cg.events.max, cg.usage]).toEqual([1, 2, 65]);
  });

  it('memcg OOM kills the biggest task of the cgroup, never a bigger task outside it, and the charge then succeeds', async () => {
    const t = makeModel({ swapPages: 16 });
    const { model } = t;
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: 256 });
    const outsider = model.spawnTask('outsider');
    const big = model.spawnTask('big', { memcg: cg });
    const small = model.spawnTask('small', { memcg: cg });
    await faultIn(model, outsider, 1016);
    await fillSwapWith(t, outsider);
    await faultIn(model, big, 150);
    await faultIn(model, small, 50);
    expect([cg.usage, cg.stock]).toEqual([256, 56]);
    await drive(t, faultIn(model, small, 100));
    expect(big.killed && big.oomVictim).toBe(true);
    expect(small.killed || outsider.killed).toBe(false);
    expect([outsider.rssPages, outsider.swapEntries]).toEqual([1000, 16]);
    expect(small.rssPages).toBe(150);
    expect(model.stats.oomKills).toBe(1);
    expect(cg.events).toMatchObject({ oom: 1, oomKill: 1, max: 1 });
    expect(t.events.filter((e) => e.type === 'oom-kill')).toEqual([
      expect.objectContaining({ victim: 'big', memcg: 'job' }),
    ]);
    expect(cg.peak).toBe(256);
    model.checkInvariants();
  });

  it('memcg OOM happens even for a GFP_NOFS request (the global OOM killer would skip it)', async () => {
    const t = makeModel({ swapPages: 16 });
    const { model } = t;
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: 256 });
    const outsider = model.spawnTask('outsider');
    await faultIn(model, outsider, 16);
    await fillSwapWith(t, outsider);
    const big = model.spawnTask('big', { memcg: cg });
    const small = model.spawnTask('small', { memcg: cg });
    await faultIn(model, big, 192);
    expect(await model.memcgs.charge(cg, inTask(small), KERNEL_ACCOUNT_NOFS, 64, 'kmem')).toBe(
      true,
    );
    expect([cg.usage, cg.stock]).toEqual([256, 0]);
    // One page more: nothing reclaimable (swap is full), only an OOM kill makes room.
    expect(
      await drive(t, model.memcgs.charge(cg, inTask(small), KERNEL_ACCOUNT_NOFS, 1, 'kmem')),
    ).toBe(true);
    expect(big.killed).toBe(true);
    expect(small.killed || outsider.killed).toBe(false);
    expect(model.stats.oomKills).toBe(1);
    expect(model.stats.oomSkippedNoFs).toBe(0);
    expect(cg.events).toMatchObject({ oom: 1, oomKill: 1 });
    expect(cg.used).toBe(65);
    model.checkInvariants();
  });

  it('no memcg OOM above PAGE_ALLOC_COSTLY_ORDER: 8 pages may OOM-kill, 9 pages just fail', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 64);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 8, 'kmem')).toBe(false);
    expect(calls.oom).toBe(1);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 9, 'kmem')).toBe(false);
    expect(calls.oom).toBe(1);
    expect(cg.events.oom).toBe(1);
    expect(calls.reclaim).toBe(2 * (2 + MAX_RECLAIM_RETRIES));
  });

  it('GFP_ATOMIC (__GFP_HIGH) over-charges without bound instead of failing', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 64);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    for (let i = 0; i < 1000; i++) {
      expect(await memcgs.charge(cg, inTask(task), GFP.ATOMIC, 1, 'kmem')).toBe(true);
    }
    expect(cg.usage).toBe(64 + 1000);
    expect(calls).toMatchObject({ reclaim: 0, oom: 0 });
    expect(cg.events.max).toBe(1000);
  });

  it('__GFP_NOFAIL is forced through when reclaim and OOM fail', async () => {
    const { memcgs, calls, group, spawn } = scripted();
    const cg = group(Infinity, 64);
    const task = spawn('t', cg);
    expect(await memcgs.charge(cg, inTask(task), GFP.KERNEL, 64, 'kmem')).toBe(true);
    const nofail = gfpOr(GFP.KERNEL_ACCOUNT, __GFP.NOFAIL);
    for (let i = 0; i < 3; i++) {
      expect(await memcgs.charge(cg, inTask(task), nofail, 1, 'kmem')).toBe(true);
    }
    expect(cg.usage).toBe(67);
    expect(calls).toMatchObject({ reclaim: 3 * (2 + MAX_RECLAIM_RETRIES), oom: 3 });
    expect(cg.events.max).toBe(3);
  });
});

describe('memory.high penalty (calculate_overage, calculate_high_delay)', () => {
  it('matches the kernel table for memory.high = 100 MiB and 64 pages, and is capped at 2 s', () => {
    const high = 100 * 256; // 100 MiB in pages
    // mm/memcontrol.c, comment above MEMCG_DELAY_PRECISION_SHIFT (HZ = 1000).
    const table: Array<[number, number]> = [
      [100, 0],
      [101, 6],
      [102, 25],
      [103, 57],
      [104, 102],
      [105, 159],
      [106, 230],
      [107, 313],
      [108, 409],
      [109, 518],
      [110, 639],
      [111, 774],
      [112, 921],
      [113, 1081],
      [114, 1254],
      [115, 1439],
      [116, 1638],
      [117, 1849],
    ];
    for (const [mib, ms] of table) {
      expect(calculateHighDelay(64, calculateOverage(mib * 256, high)), `${mib}M`).toBe(ms);
    }
    // 118M: 188743^2 * 1000 >> 34 = 2073, above the cap that handleOverHigh applies.
    expect(calculateHighDelay(64, calculateOverage(118 * 256, high))).toBe(2073);
    expect(MEMCG_MAX_HIGH_DELAY_JIFFIES).toBe(2 * HZ);
  });

  it('overage is (usage - high) / high in 2^-20 units, 0 at or under high, high 0 counts as 1', () => {
    expect(calculateOverage(256, 256)).toBe(0n);
    expect(calculateOverage(255, 256)).toBe(0n);
    expect(calculateOverage(257, 256)).toBe(4096n); // 2^20 / 256
    expect(calculateOverage(512, 256)).toBe(1n << 20n);
    expect(calculateOverage(25935, 25600)).toBe(13721n); // (335 << 20) / 25600 = 13721.6
    expect(calculateOverage(3, 0)).toBe(3n << 20n);
  });

  it('delay grows with the square of the overage and scales with nr_pages / 64', () => {
    // overage 1.0: 2^40 * 1000 >> 34 = 64000 jiffies for a batch of 64 pages.
    expect(calculateHighDelay(64, 1n << 20n)).toBe(64000);
    expect(calculateHighDelay(64, 1n << 19n)).toBe(16000); // half the overage, a quarter of the delay
    expect(calculateHighDelay(32, 1n << 20n)).toBe(32000);
    expect(calculateHighDelay(128, 1n << 20n)).toBe(128000);
    expect(calculateHighDelay(1, 1n << 20n)).toBe(1000);
    expect(calculateHighDelay(64, 0n)).toBe(0);
  });
});

describe('over memory.high (mem_cgroup_handle_over_high)', () => {
  /** A cgroup at usage `usage` with the task owing `owed` pages of overage, reclaim freeing nothing. */
  async function owing(high: number, usage: number, owed: number) {
    const s = scripted();
    const cg = s.group(high, Infinity);
    const filler = s.spawn('filler', cg);
    const task = s.spawn('t', cg);
    // GFP_NOWAIT in task context: recorded for the return to user space, no reclaim now.
    expect(await s.memcgs.charge(cg, inTask(filler), GFP.NOWAIT, usage - owed, 'kmem')).toBe(true);
    expect(await s.memcgs.charge(cg, inTask(task), GFP.NOWAIT, owed, 'kmem')).toBe(true);
    expect([cg.usage, cg.stock, task.memcgPagesOverHigh]).toEqual([usage, 0, owed]);
    expect(s.calls.reclaim).toBe(0);
    return { ...s, cg, task };
  }

  it('a penalty of HZ/100 = 10 ms is not slept; 11 ms is, after 16 more reclaim passes', async () => {
    // 25935 over 25600: overage 13721, 13721^2 * 1000 >> 34 = 10.
    const at10 = await owing(25600, 25935, 64);
    await at10.memcgs.handleOverHigh(at10.task, GFP.KERNEL);
    expect([at10.sched.now(), at10.calls.reclaim, at10.task.memcgPagesOverHigh]).toEqual([0, 1, 0]);
    expect(at10.cg.events.high).toBe(1);

    // 25936 over 25600: overage 13762, 13762^2 * 1000 >> 34 = 11.
    const at11 = await owing(25600, 25936, 64);
    let done = false;
    void at11.memcgs.handleOverHigh(at11.task, GFP.KERNEL).then(() => (done = true));
    await at11.sched.runFor(10);
    expect(done).toBe(false);
    expect(at11.task.activity).toBe('D:memcg-high');
    expect(at11.calls.reclaim).toBe(1 + MAX_RECLAIM_RETRIES);
    await at11.sched.runFor(1);
    expect(done).toBe(true);
    expect(at11.task.activity).toBe('running');
    expect(at11.calls.oom).toBe(0);
  });

  it('the delay is capped at 2000 ms per return to user space', async () => {
    // usage twice high: 64000 ms owed for 64 pages.
    const s = await owing(1000, 2000, 64);
    let done = false;
    void s.memcgs.handleOverHigh(s.task, GFP.KERNEL).then(() => (done = true));
    await s.sched.runFor(MEMCG_MAX_HIGH_DELAY_JIFFIES - 1);
    expect(done).toBe(false);
    await s.sched.runFor(1);
    expect(done).toBe(true);
    expect(s.sched.now()).toBe(2000);
  });

  it('the charge succeeds over high and records the batch; reclaim at the return to user brings usage back under high, so no delay', async () => {
    const t = makeModel();
    const { model } = t;
    const cg = model.createMemcg({ name: 'job', highPages: 256, maxPages: Infinity });
    const reader = model.spawnTask('reader', { memcg: cg });
    // Batches 1-4 reach high exactly; batch 5 (page 257) is 64 over: recorded, not reclaimed
    // (only more than 64 pages owed triggers the synchronous reclaim).
    expect(await model.files.read(reader, 257)).toBe(257);
    expect([cg.usage, reader.memcgPagesOverHigh, cg.events.high]).toEqual([320, 64, 0]);
    // Batch 6 (page 321): 128 owed, reclaimed synchronously: 128 clean pages go.
    expect(await model.files.read(reader, 143)).toBe(143);
    expect([cg.usage, cg.fileClean, reader.memcgPagesOverHigh]).toEqual([320, 272, 64]);
    expect(cg.events.high).toBe(1);
    // Return to user space: 64 owed, 64 more pages reclaimed, usage = high, no sleep.
    await drive(t, model.memcgs.handleOverHigh(reader, GFP.KERNEL));
    expect([cg.usage, cg.fileClean, reader.memcgPagesOverHigh]).toEqual([256, 208, 0]);
    expect(cg.events.high).toBe(2);
    expect(model.stats.cleanPagesReclaimed).toBe(192);
    expect(t.sched.now()).toBe(0);
    model.checkInvariants();
  });

  it('memory.high never triggers OOM, however far usage goes over it', async () => {
    const t = makeModel({ swapPages: 16 });
    const { model } = t;
    const outsider = model.spawnTask('outsider');
    await faultIn(model, outsider, 16);
    await fillSwapWith(t, outsider);
    const start = t.sched.now();
    const cg = model.createMemcg({ name: 'job', highPages: 64, maxPages: Infinity });
    const task = model.spawnTask('t', { memcg: cg });
    await drive(t, faultIn(model, task, 1000), 120_000);
    await drive(t, model.memcgs.handleOverHigh(task, GFP.KERNEL));
    // 1000 pages: 16 batches, 16 times memory.high.
    expect([cg.usage, cg.used]).toEqual([1024, 1000]);
    expect(cg.events.high).toBeGreaterThan(0);
    expect([cg.events.oom, cg.events.oomKill, model.stats.oomKills]).toEqual([0, 0, 0]);
    expect(task.killed).toBe(false);
    // Batches 3, 5, ..., 15 owe 128 pages each and are handled in the charge, batch 16 at
    // the return to user: 8 full 2 s delays. The cgroup was throttled, not killed.
    expect(t.sched.now() - start).toBe(8 * MEMCG_MAX_HIGH_DELAY_JIFFIES);
    model.checkInvariants();
  });
});

describe('seed 002: kernel memory charged without __GFP_WAIT (2015) vs the fix', () => {
  // high 256, no max; 576 one-page kmem charges = 9 batches, nothing reclaimable.
  async function slabGrowth(kmemChargeWithoutReclaim: boolean) {
    const t = makeModel({ memcgKmemChargeWithoutReclaim: kmemChargeWithoutReclaim });
    const cg = t.model.createMemcg({ name: 'job', highPages: 256, maxPages: Infinity });
    const task = t.model.spawnTask('t', { memcg: cg });
    return { t, cg, task };
  }

  it('with the 2015 knob, GFP_KERNEL_ACCOUNT charges over memory.high record nothing and are never delayed', async () => {
    const { t, cg, task } = await slabGrowth(true);
    const results = await chargeEach(t.model, cg, task, 576, GFP.KERNEL_ACCOUNT, 'kmem');
    expect(results.every(Boolean)).toBe(true);
    expect(cg.usage).toBe(576);
    expect(task.memcgPagesOverHigh).toBe(0);
    await drive(t, t.model.memcgs.handleOverHigh(task, GFP.KERNEL));
    expect(t.sched.now()).toBe(0);
    expect(cg.events.high).toBe(0);
    expect(task.activity).toBe('running');
  });

  it('with the fix, the same charges record the overage, reclaim and are delayed 2 s per synchronous handling', async () => {
    const { t, cg, task } = await slabGrowth(false);
    // Batch 5 (usage 320) owes 64; batch 6 (384) owes 128 > 64: handled in the charge.
    expect(
      (await chargeEach(t.model, cg, task, 320, GFP.KERNEL_ACCOUNT, 'kmem')).every(Boolean),
    ).toBe(true);
    expect([cg.usage, task.memcgPagesOverHigh, cg.events.high]).toEqual([320, 64, 0]);
    const rest = chargeEach(t.model, cg, task, 256, GFP.KERNEL_ACCOUNT, 'kmem');
    // Batch 6: overage 0.5, 16000 * 128/64 ms, capped: 2000. Batch 8 (512): capped too.
    expect((await drive(t, rest)).every(Boolean)).toBe(true);
    expect(t.sched.now()).toBe(2 * MEMCG_MAX_HIGH_DELAY_JIFFIES);
    expect(cg.usage).toBe(576);
    expect(task.memcgPagesOverHigh).toBe(64); // batch 9, left for the return to user
    expect(cg.events.high).toBe(2 * (1 + MAX_RECLAIM_RETRIES));
    await drive(t, t.model.memcgs.handleOverHigh(task, GFP.KERNEL));
    expect(t.sched.now()).toBe(3 * MEMCG_MAX_HIGH_DELAY_JIFFIES);
    expect(cg.events.high).toBe(3 * (1 + MAX_RECLAIM_RETRIES));
    expect(cg.events.oom).toBe(0);
  });

  it('with the 2015 knob, a kmem charge at memory.max still reclaims (slab retried with the caller mask); GFP_NOWAIT fails', async () => {
    const t = makeModel({ memcgKmemChargeWithoutReclaim: true });
    const { model } = t;
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: 128 });
    const task = model.spawnTask('t', { memcg: cg });
    expect(await model.files.read(task, 64)).toBe(64);
    expect(await model.memcgs.charge(cg, inTask(task), GFP.KERNEL_ACCOUNT, 64, 'kmem')).toBe(true);
    expect(cg.usage).toBe(128);
    expect(await model.memcgs.charge(cg, inTask(task), GFP.NOWAIT, 1, 'kmem')).toBe(false);
    expect(cg.fileClean).toBe(64);
    expect(
      await drive(t, model.memcgs.charge(cg, inTask(task), GFP.KERNEL_ACCOUNT, 1, 'kmem')),
    ).toBe(true);
    // Reclaim freed a SWAP_CLUSTER_MAX batch of the cgroup's clean pages.
    expect([cg.fileClean, cg.usage]).toEqual([32, 97]);
    expect(cg.events.max).toBe(1); // only the reclaiming try raised MEMCG_MAX
    expect(model.stats.oomKills).toBe(0);
  });
});

describe('socket memory', () => {
  it('a softirq receive charge with GFP_ATOMIC over memory.max over-charges (since 6.1); GFP_NOWAIT would fail', async () => {
    const { model } = makeModel();
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: 128 });
    const service = model.spawnTask('service', { memcg: cg });
    expect(await model.memcgs.charge(cg, inTask(service), GFP.KERNEL_ACCOUNT, 128, 'kmem')).toBe(
      true,
    );
    const softirq: AllocContext = { exec: 'softirq', task: model.softirqTask };
    expect(await model.memcgs.charge(cg, softirq, GFP.NOWAIT, 32, 'socket')).toBe(false);
    expect(cg.usage).toBe(128);
    for (let i = 0; i < 10; i++) {
      expect(await model.memcgs.charge(cg, softirq, GFP.ATOMIC, 32, 'socket')).toBe(true);
    }
    expect(cg.usage).toBe(128 + 320);
    expect(model.stats.oomKills).toBe(0);
  });

  it('over memory.high from softirq the interrupted task owes nothing; one high_work item reclaims the cgroup', async () => {
    const t = makeModel();
    const { model } = t;
    const cg = model.createMemcg({ name: 'job', highPages: 64, maxPages: Infinity });
    const reader = model.spawnTask('reader', { memcg: cg });
    expect(await model.files.read(reader, 64)).toBe(64);
    expect([cg.usage, cg.stock]).toEqual([64, 0]);
    const interrupted = model.spawnTask('bystander');
    const softirq: AllocContext = { exec: 'softirq', task: interrupted };
    expect(await model.memcgs.charge(cg, softirq, GFP.ATOMIC, 64, 'socket')).toBe(true);
    expect(await model.memcgs.charge(cg, softirq, GFP.ATOMIC, 64, 'socket')).toBe(true);
    expect(cg.usage).toBe(192);
    expect(interrupted.memcgPagesOverHigh).toBe(0);
    expect(cg.fileClean).toBe(64); // nothing reclaimed in softirq
    await t.sched.runFor(1);
    // One queued work item: one reclaim_high of MEMCG_CHARGE_BATCH pages.
    expect(cg.events.high).toBe(1);
    expect([cg.fileClean, cg.usage]).toEqual([0, 128]);
  });
});

describe('cgroup reclaim', () => {
  it('takes only the cgroup own pages: its clean file pages, then its anon pages to swap; root pages are untouched', async () => {
    const t = makeModel();
    const { model } = t;
    const rootTask = model.spawnTask('root');
    expect(await model.files.read(rootTask, 200)).toBe(200);
    await faultIn(model, rootTask, 300);
    const cg = model.createMemcg({ name: 'job', highPages: Infinity, maxPages: 256 });
    const job = model.spawnTask('job', { memcg: cg });
    expect(await model.files.read(job, 100)).toBe(100);
    await drive(t, faultIn(model, job, 400));
    await t.sched.runFor(100); // let the writeouts complete
    expect(cg.fileClean).toBe(0);
    expect(job.swapEntries).toBeGreaterThan(0);
    expect(job.rssPages + job.swapEntries).toBe(400);
    expect(cg.peak).toBeLessThanOrEqual(256);
    expect(cg.events.max).toBeGreaterThan(0);
    // Root: its 200 clean pages and 300 resident anon pages are all still there.
    expect(model.files.cleanPages(null) - cg.fileClean).toBe(200);
    expect([rootTask.rssPages, rootTask.swapEntries]).toEqual([300, 0]);
    expect(model.stats.oomKills).toBe(0);
    model.checkInvariants();
  });
});
