// The pieces of the writeout-starved scenario (seed 004): a transport that allocates per
// request from the NBD thread's context, get_scan_count's split between file and anon, and
// recursive reclaim acting when the transport finds the reserve empty. Virtual time.
import { describe, expect, it } from 'vitest';
import { PF } from '../../reserve/task.ts';
import { TRANSPORT_RETRY_MS, TransportBuffers } from '../../reserve/transport-buffers.ts';
import { GFP } from '../../reserve/gfp.ts';
import { makeModel, setFree } from '../helpers/model.ts';

function nbdThread(t: ReturnType<typeof makeModel>) {
  return t.model.tasks.spawn('nbd0', { flags: PF.KTHREAD | PF.MEMALLOC, oomScoreAdj: -1000 });
}

describe('transport buffers per request (the writeout path allocates)', () => {
  it('under PF_MEMALLOC at min they come from the reserve; with the reserve empty the sender retries every 10 ms', async () => {
    const t = makeModel();
    const nbd = nbdThread(t);
    const tb = new TransportBuffers(t.model.allocator, t.sched, 8);
    setFree(t.model, 512); // at min: only the reserve is left
    const ctx = { exec: 'task', task: nbd } as const;
    expect(await tb.acquire(ctx, () => false)).toBe(8);
    expect(t.model.zone.reserveUsed).toBe(8);
    setFree(t.model, 4);
    let got: number | undefined;
    void tb.acquire(ctx, () => false).then((pf) => (got = pf));
    await t.sched.runFor(TRANSPORT_RETRY_MS * 3 + 1);
    expect(got).toBeUndefined();
    expect(tb.failures).toBe(4);
    // Pages come back (a reply released another request's buffers): the retry succeeds.
    tb.release(8);
    await t.sched.runFor(TRANSPORT_RETRY_MS);
    expect(got).toBe(8);
    expect(tb.held).toBe(8);
  });

  it('with recursive reclaim the failed reserve allocation frees clean page cache and succeeds; without clean pages it cannot', async () => {
    for (const cache of [1000, 0]) {
      const t = makeModel({ recursiveReclaim: true });
      const reader = t.model.spawnTask('reader');
      if (cache > 0) await t.model.files.read(reader, cache);
      const nbd = nbdThread(t);
      const tb = new TransportBuffers(t.model.allocator, t.sched, 8);
      setFree(t.model, 0);
      let got: number | undefined;
      void tb.acquire({ exec: 'task', task: nbd }, () => false).then((pf) => (got = pf));
      await t.sched.runFor(100);
      if (cache > 0) {
        expect(got).toBe(8);
        expect(t.model.stats.recursiveReclaimPages).toBeGreaterThan(0);
      } else {
        expect(got).toBeUndefined();
        expect(t.model.stats.recursiveReclaimPages).toBe(0);
      }
    }
  });
});

describe('get_scan_count: file first while the cache is read once, in proportion once it is re-read', () => {
  it('a cache read once is reclaimed before any anon page is written (SCAN_FILE); a re-read cache shares the scan with anon (SCAN_FRACT, swappiness 60)', async () => {
    const issued: Record<string, number> = {};
    for (const refault of [false, true]) {
      const t = makeModel({}, { latencyMs: 1 });
      const hog = t.model.spawnTask('hog');
      const region = t.model.anon.map(hog, 3000);
      for (let p = region.base; p < region.base + 3000; p++) await t.model.anon.fault(hog, p);
      const reader = t.model.spawnTask('reader');
      await t.model.files.read(reader, 1000, refault);
      expect(t.model.files.inactiveFileLow(null)).toBe(refault);
      const task = t.model.spawnTask('direct');
      await t.model.reclaimer.directReclaim(task, GFP.KERNEL);
      issued[String(refault)] = t.model.stats.writeoutIssued;
    }
    // file 1000 x 140 against anon 3000 x 60: 32 x 140000 / 320000 = 14 file, 18 anon.
    expect(issued).toEqual({ false: 0, true: 18 });
  });
});
