// The real-kernel engine's translation of the guest agent's counters into the verdict's
// samples and the record's kernel figures (orchestrator/uml/agent-samples.ts).
import { describe, expect, it } from 'vitest';
import {
  kernelFigures,
  kernelStatus,
  verdictSample,
  watermarksOf,
} from '../../orchestrator/uml/agent-samples.ts';
import { decideVerdict } from '../../orchestrator/verdict.ts';

const sample = (o: Record<string, number>) => ({ event: 'sample', ...o });

describe('verdictSample', () => {
  it('reads issued from pswpout, pending from nr_writeback, completed as their difference', () => {
    const s = verdictSample(3, sample({ pswpout: 1000, nr_writeback: 40, oom_kill: 1 }), {
      pagesVerified: 5,
      integrityErrors: 0,
    });
    expect(s).toEqual({
      t: 3,
      issued: 1000,
      completed: 960,
      pending: 40,
      pagesVerified: 5,
      integrityErrors: 0,
      swapInErrors: 0,
      oomKills: 1,
      retries: 0,
    });
  });

  it('a missing or non-numeric counter reads as 0, never NaN', () => {
    const s = verdictSample(
      0,
      { event: 'sample', pswpout: 'x' },
      { pagesVerified: 0, integrityErrors: 0 },
    );
    expect([s.issued, s.pending, s.completed, s.oomKills]).toEqual([0, 0, 0, 0]);
  });

  it('writeback that stays pending through the stall window after the heal is a deadlock by the model rule', () => {
    const checks = { pagesVerified: 0, integrityErrors: 0 };
    const samples = Array.from({ length: 30 }, (_, t) =>
      verdictSample(
        t,
        sample({ pswpout: t < 5 ? t * 100 : 500, nr_writeback: t < 5 ? 0 : 64 }),
        checks,
      ),
    );
    const v = decideVerdict({ samples, firstFaultAt: 5, lastHealAt: 13, stallWindowSeconds: 10 });
    expect(v.verdict).toBe('deadlock');
  });
});

describe('kernelFigures', () => {
  it('keeps the last counters, the free-memory floor with its watermarks, and the TCP memory peak', () => {
    const f = kernelFigures([
      sample({
        nr_free_pages: 900,
        pswpout: 10,
        tcpMemPages: 5,
        wmarkMin: 326,
        wmarkLow: 407,
        wmarkHigh: 488,
      }),
      sample({
        nr_free_pages: 300,
        pswpout: 20,
        tcpMemPages: 700,
        wmarkMin: 326,
        wmarkLow: 407,
        wmarkHigh: 488,
      }),
      sample({
        nr_free_pages: 800,
        pswpout: 30,
        pswpin: 7,
        PFMemallocDrop: 0,
        TCPRcvQDrop: 4,
        tcpMemPages: 100,
      }),
    ]);
    expect(f).toMatchObject({
      samples: 3,
      pswpout: 30,
      pswpin: 7,
      pfmemallocDrop: 0,
      tcpRcvQDrop: 4,
      freeFloorPages: 300,
      watermarks: { min: 326, low: 407, high: 488 },
      tcpMemPeakPages: 700,
    });
  });
});

describe('kernelStatus', () => {
  const limits = [2700, 3600, 5400] as const;
  const progress = {
    serviceMessages: 42,
    hogTouches: new Map([
      [7, 100],
      [8, 50],
    ]),
  };

  it('takes the watermarks without watermark_boost, and the reserve as what lies under min', () => {
    const last = sample({
      nr_free_pages: 400,
      wmarkBoost: 1024,
      wmarkMin: 1504,
      wmarkLow: 1624,
      wmarkHigh: 1744,
      pswpout: 900,
      nr_writeback: 30,
    });
    const earlier = sample({ nr_free_pages: 300, wmarkBoost: 0, wmarkMin: 480, wmarkLow: 600 });
    const s = kernelStatus(last, [earlier, last], progress, limits);
    expect(watermarksOf(last)).toEqual({ min: 480, low: 600, high: 720 });
    expect(s.memory.watermarks).toEqual({ min: 480, low: 600, high: 720 });
    expect(s.memory.reserve).toEqual({ sizePages: 480, usedPages: 80, peakUsedPages: 180 });
    expect(s.swap).toMatchObject({ issued: 900, pending: 30, completed: 870 });
  });

  it('maps the kernel drop counters onto the model drop reasons, and sums the hogs', () => {
    const s = kernelStatus(
      sample({
        PFMemallocDrop: 5,
        TCPRcvQDrop: 6,
        TCPBacklogDrop: 7,
        nicRxDropped: 8,
        tcpInSegs: 99,
        tcpMemPages: 12,
        procsBlocked: 3,
        allocstall_normal: 4,
        allocstall_movable: 1,
      }),
      [],
      progress,
      limits,
    );
    expect(s.rx.drops).toEqual({
      pfmemalloc: { all: 5 },
      proto_mem: { all: 6 },
      backlog: { all: 7 },
      nomem: { all: 8 },
    });
    expect(s.rx.delivered).toEqual({ all: 99 });
    expect(s.tcpMem).toEqual({ allocated: 12, limits });
    expect(s.workloads).toEqual({ serviceMessages: 42, hogTouches: 150 });
    expect(s.tasks).toHaveLength(3);
    expect(s.stats.allocRetries + s.stats.nofailRetries).toBe(5);
  });
});
