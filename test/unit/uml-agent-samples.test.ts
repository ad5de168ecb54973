// The real-kernel engine's translation of the guest agent's counters into the verdict's
// samples and the record's kernel figures (orchestrator/uml/agent-samples.ts).
import { describe, expect, it } from 'vitest';
import { kernelFigures, verdictSample } from '../../orchestrator/uml/agent-samples.ts';
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
