// decideVerdict with synthetic samples of A's /status: one test per rule of DESIGN.md
// section 7, their precedence, the stall window's boundary and the recovery time.
import { describe, expect, it } from 'vitest';
import { decideVerdict, type Sample, type VerdictInput } from '../../orchestrator/verdict.ts';

/** A sample with every counter at zero unless given. */
function sample(t: number, s: Partial<Omit<Sample, 't'>> = {}): Sample {
  return {
    t,
    issued: 0,
    completed: 0,
    pending: 0,
    pagesVerified: 0,
    integrityErrors: 0,
    swapInErrors: 0,
    oomKills: 0,
    retries: 0,
    ...s,
  };
}

/** Samples at from, from+step, ... up to `to` (inclusive), each shaped by `f(t)`. */
function series(
  from: number,
  to: number,
  step: number,
  f: (t: number) => Partial<Omit<Sample, 't'>>,
): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; from + i * step <= to + 1e-9; i++) {
    const t = Number((from + i * step).toFixed(6));
    out.push(sample(t, f(t)));
  }
  return out;
}

function input(
  samples: readonly Sample[],
  over: Partial<Omit<VerdictInput, 'samples'>> = {},
): VerdictInput {
  return { samples, lastHealAt: 22, firstFaultAt: 12, stallWindowSeconds: 10, ...over };
}

/**
 * partition-c's shape: steady writeout until the fault at 12, nothing completes during the
 * partition (issued keeps climbing to 400, completed stays at 100); what happens after the
 * heal at 22 is up to `after`.
 */
function partition(
  end: number,
  after: (t: number) => Partial<Omit<Sample, 't'>>,
  step = 1,
): Sample[] {
  return series(0, end, step, (t) => {
    if (t < 12) return { issued: 10 * t + 10, completed: 10 * t, pending: 10 };
    if (t < 22) {
      const issued = Math.min(400, 110 + 30 * (t - 12));
      return { issued, completed: 110, pending: issued - 110 };
    }
    return after(t);
  });
}

/** After the heal: nothing ever completes again, 290 writeouts stay pending. */
const stuck = (): Partial<Sample> => ({ issued: 400, completed: 110, pending: 290 });

describe('decideVerdict: completed', () => {
  it('is completed when the writeouts issued before the heal drain after it, with the recovery time', () => {
    // Issued 400 by the heal; completions resume at 22 and reach 400 at 25.5 (step 0.5).
    const samples = partition(
      40,
      (t) => {
        const completed = t < 25.5 ? 110 + Math.floor((t - 22) * 83) : 400 + 10 * (t - 25.5);
        const issued = Math.max(400, completed + 5);
        return { issued, completed, pending: issued - completed };
      },
      0.5,
    );
    const drained = samples.find((s) => s.t >= 22 && s.completed >= 400);
    expect(drained?.t).toBe(25.5);
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('completed');
    expect(r.recoverySeconds).toBe(3.5);
    expect(r.reason).toMatch(/completed 3\.5 s after/);
  });

  it('counts recovery from the last heal, not an earlier one (flapping)', () => {
    // Writeout flows until the last heal at 37, where 900 had been issued; completions
    // catch up with those 900 at 41.
    const samples = series(0, 55, 1, (t) => {
      const issued = t < 37 ? 20 * t + 160 : 900 + 5 * (t - 37);
      const completed = t < 37 ? 20 * t + 150 : Math.min(issued - 1, 740 + 40 * (t - 37));
      return { issued, completed, pending: issued - completed };
    });
    const atHeal = samples.find((s) => s.t === 37);
    expect(atHeal?.issued).toBe(900);
    const r = decideVerdict(input(samples, { lastHealAt: 37, firstFaultAt: 10 }));
    expect(r.verdict).toBe('completed');
    // 740 + 40 * 4 = 900 at t = 41.
    expect(r.recoverySeconds).toBe(4);
  });

  it('is 0 s of recovery when everything issued by the heal had already completed at it', () => {
    const samples = series(0, 40, 1, (t) => ({ issued: 10 * t, completed: 10 * t, pending: 0 }));
    expect(decideVerdict(input(samples)).recoverySeconds).toBe(0);
  });

  it('is completed with recoverySeconds null when the run ends still draining what the heal left', () => {
    // Completions go on after the heal but only reach 290 of the 400 issued by the end.
    // DESIGN.md 7 asks for "every writeout issued before the heal completes"; verdict.ts
    // accepts a run that ends still draining (documented in its header).
    const samples = partition(40, (t) => ({
      issued: 400,
      completed: 110 + Math.floor((t - 22) * 10),
      pending: 400 - (110 + Math.floor((t - 22) * 10)),
    }));
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('completed');
    expect(r.recoverySeconds).toBeNull();
    expect(r.reason).toMatch(/still draining/);
  });

  it('is completed (writeout goes on) with no fault and no heal at all', () => {
    const samples = series(0, 30, 1, (t) => ({
      issued: 10 * t + 5,
      completed: 10 * t,
      pending: 5,
    }));
    const r = decideVerdict(input(samples, { lastHealAt: undefined, firstFaultAt: undefined }));
    expect(r).toEqual({ verdict: 'completed', recoverySeconds: null, reason: 'writeout goes on' });
  });
});

describe('decideVerdict: deadlock', () => {
  it('is deadlock when writeouts stay pending and none completes for the window after the heal', () => {
    const r = decideVerdict(input(partition(40, stuck)));
    expect(r.verdict).toBe('deadlock');
    expect(r.recoverySeconds).toBeNull();
    expect(r.reason).toMatch(/290 writeouts pending and none completed in the last 10 s/);
  });

  it('needs writeouts pending: the same flat line with nothing pending is completed', () => {
    const samples = partition(40, () => ({ issued: 400, completed: 400, pending: 0 }));
    // Nothing completes in the final window, but nothing is waiting either.
    expect(samples.at(-1)?.completed).toBe(samples.find((s) => s.t === 30)?.completed);
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('completed');
    // Completed jumped to 400 at the first sample at the heal.
    expect(r.recoverySeconds).toBe(0);
  });

  it('a machine that stopped answering for a whole window at the end is hung: deadlock', () => {
    // The last counters show nothing pending (a real kernel whose agent froze with it).
    const samples = series(0, 8, 0.25, (t) => ({ issued: t * 10, completed: t * 10 }));
    const silent = { silent: { since: 8.25, end: 30 } };
    const r = decideVerdict({ ...input(samples), ...silent });
    expect(r.verdict).toBe('deadlock');
    expect(r.reason).toMatch(/machine A stopped answering at 8\.3 s and never answered again/);
    // Silent for less than the window at the end: judged by the samples as before.
    const short = decideVerdict({ ...input(samples), silent: { since: 25, end: 30 } });
    expect(short.verdict).toBe('completed');
  });

  it('a single completion inside the stall window after the heal is progress: completed', () => {
    const samples = partition(40, (t) => (t < 31 ? stuck() : { ...stuck(), completed: 111 }));
    expect(decideVerdict(input(samples)).verdict).toBe('completed');
  });

  it('a completion only after the stall window that followed the heal is too late: deadlock (DESIGN 7)', () => {
    const samples = partition(40, (t) => (t < 39 ? stuck() : { ...stuck(), completed: 111 }));
    expect(decideVerdict(input(samples)).verdict).toBe('deadlock');
  });

  describe('the stall window boundary (window 10 s, heal at 22)', () => {
    it('a stall of exactly the window after the heal is deadlock', () => {
      const samples = partition(32, stuck, 2);
      expect(samples.at(-1)?.t).toBe(32);
      expect(decideVerdict(input(samples)).verdict).toBe('deadlock');
    });

    it('one 2-s sample short of the window (8 s after the heal) is not deadlock yet', () => {
      const samples = partition(30, stuck, 2);
      expect(samples.at(-1)?.t).toBe(30);
      expect(decideVerdict(input(samples)).verdict).toBe('completed');
    });

    it('tolerates 10% of sampling slack: 9 s counts as the window, 8.75 s does not', () => {
      // verdict.ts accepts windowLength >= 0.9 * window (the first sample of the window
      // lands up to one sampling interval after its start).
      expect(decideVerdict(input(partition(31, stuck, 0.25))).verdict).toBe('deadlock');
      expect(decideVerdict(input(partition(30.75, stuck, 0.25))).verdict).toBe('completed');
    });
  });

  it('a stall of the whole window right after the heal is deadlock even if writeout resumes later', () => {
    // Nothing completes for 10 s after the heal (22..32), then writeout resumes.
    const samples = partition(45, (t) =>
      t <= 32
        ? stuck()
        : {
            issued: 400 + 10 * (t - 32),
            completed: 110 + 20 * (t - 32),
            pending: 290 - 10 * (t - 32),
          },
    );
    expect(decideVerdict(input(samples)).verdict).toBe('deadlock');
  });

  it('the window starts no earlier than the heal: a run ending 8 s after it is not judged stalled', () => {
    // Stalled since the fault at 12, but only 8 s of the window follow the heal.
    const r = decideVerdict(input(partition(30, stuck)));
    expect(r.verdict).toBe('completed');
  });
});

describe('decideVerdict: livelock', () => {
  /** After the heal: nothing completes, `rate` allocation retries per second. */
  const retrying =
    (rate: number) =>
    (t: number): Partial<Sample> => ({ ...stuck(), retries: Math.round(rate * (t - 22)) });

  it('is livelock when retries keep climbing and nothing completes', () => {
    const r = decideVerdict(input(partition(40, retrying(50))));
    expect(r.verdict).toBe('livelock');
    expect(r.reason).toMatch(/500 allocation retries and no writeout completed in the last 10 s/);
  });

  it('a NOFAIL loop held 1 s a round in throttle_direct_reclaim (10 retries in the window) is a livelock', () => {
    // Regression: the rule wanted more than one retry a second, and called this loop (a
    // GFP_NOIO caller sleeps up to HZ on pfmemalloc_wait, then retries) a deadlock.
    expect(decideVerdict(input(partition(40, retrying(1)))).verdict).toBe('livelock');
    expect(decideVerdict(input(partition(40, retrying(0.5)))).verdict).toBe('livelock');
  });

  it('fewer than one retry every two seconds of the window is a deadlock', () => {
    // A task asleep in D state retries never; a stray retry or two is not a loop.
    expect(decideVerdict(input(partition(40, retrying(0.4)))).verdict).toBe('deadlock');
    expect(decideVerdict(input(partition(40, retrying(0)))).verdict).toBe('deadlock');
  });

  it('counts retries in the window only, not before it', () => {
    // Retries jumped to 10 000 by the heal, then stopped.
    const samples = partition(40, () => ({ ...stuck(), retries: 10_000 }));
    expect(decideVerdict(input(samples)).verdict).toBe('deadlock');
  });

  it('needs no completion: retries climbing while writeout completes is completed', () => {
    const samples = partition(40, (t) => ({
      issued: 400 + 10 * (t - 22),
      completed: 110 + 15 * (t - 22),
      pending: 290 - 5 * (t - 22),
      retries: 500 * (t - 22),
    }));
    expect(decideVerdict(input(samples)).verdict).toBe('completed');
  });

  it('needs writeouts pending: retries climbing with nothing pending is completed', () => {
    // DESIGN.md 7 says only "retries keep running but nothing completes"; verdict.ts also
    // requires pending writeouts (livelock is the stall rule plus climbing retries).
    const samples = partition(40, (t) => ({
      issued: 400,
      completed: 400,
      pending: 0,
      retries: 500 * (t - 22),
    }));
    expect(decideVerdict(input(samples)).verdict).toBe('completed');
  });

  it('without a heal (nofail-livelock) the window starts at the first fault', () => {
    // C never comes back: fault at 12, no heal, end at 40; NOFAIL retries climb.
    const samples = series(0, 40, 1, (t) =>
      t < 12
        ? { issued: 10 * t + 10, completed: 10 * t, pending: 10 }
        : { issued: 200, completed: 110, pending: 90, retries: 200 * (t - 12) },
    );
    const r = decideVerdict(input(samples, { lastHealAt: undefined, firstFaultAt: 12 }));
    expect(r.verdict).toBe('livelock');
    expect(r.recoverySeconds).toBeNull();
  });
});

describe('decideVerdict: the first fault as the window start when nothing heals', () => {
  // Completions stop at 8; the fault is recorded at 12; the run ends at 20.
  const samples = series(0, 20, 1, (t) => ({
    issued: 100 + 10 * t,
    completed: 10 * Math.min(t, 8),
    pending: 100 + 10 * t - 10 * Math.min(t, 8),
  }));

  it('with the fault at 12 only 8 s of window exist: not stalled', () => {
    const r = decideVerdict(input(samples, { lastHealAt: undefined, firstFaultAt: 12 }));
    expect(r.verdict).toBe('completed');
  });

  it('with no fault either, the window is the last 10 s of the run: deadlock', () => {
    const r = decideVerdict(input(samples, { lastHealAt: undefined, firstFaultAt: undefined }));
    expect(r.verdict).toBe('deadlock');
  });
});

describe('decideVerdict: oom and data-loss, and the precedence of the rules', () => {
  it('is oom when the OOM killer killed a task, even though writeout completed', () => {
    const samples = series(0, 40, 1, (t) => ({
      issued: 10 * t,
      completed: 10 * t,
      oomKills: t >= 30 ? 2 : 0,
    }));
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('oom');
    expect(r.reason).toMatch(/killed 2 task/);
    expect(r.recoverySeconds).toBe(0);
  });

  it('regression: an OOM with no victim only failed the allocation; it is the kernel panic "System is deadlocked on memory", an oom verdict that names it', () => {
    const samples = partition(40, (t) => ({
      issued: 400,
      completed: 110,
      pending: 290,
      oomPanics: t >= 30 ? 1 : 0,
    }));
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('oom');
    expect(r.reason).toMatch(/System is deadlocked on memory/);
    // Without the panic the same samples are a deadlock.
    const without = decideVerdict(input(samples.map((x) => ({ ...x, oomPanics: 0 }))));
    expect(without.verdict).toBe('deadlock');
  });

  it('is data-loss when any page read back did not match, even though writeout completed', () => {
    const samples = series(0, 40, 1, (t) => ({
      issued: 10 * t,
      completed: 10 * t,
      pagesVerified: 5 * t,
      integrityErrors: t >= 39 ? 1 : 0,
    }));
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('data-loss');
    expect(r.reason).toMatch(/1 page\(s\) came back wrong/);
  });

  it('is data-loss when a swap-in failed: C did not serve a page it had confirmed', () => {
    const samples = series(0, 40, 1, (t) => ({
      issued: 10 * t,
      completed: 10 * t,
      pagesVerified: 5 * t,
      swapInErrors: t >= 39 ? 2 : 0,
    }));
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('data-loss');
    expect(r.reason).toMatch(/2 swap-in\(s\) failed/);
  });

  it('data-loss beats oom', () => {
    const samples = partition(40, () => ({ ...stuck(), oomKills: 1, integrityErrors: 3 }));
    expect(decideVerdict(input(samples)).verdict).toBe('data-loss');
  });

  it('oom beats livelock', () => {
    const samples = partition(40, (t) => ({ ...stuck(), retries: 100 * (t - 22), oomKills: 1 }));
    expect(decideVerdict(input(samples)).verdict).toBe('oom');
    // The same samples without the kill are livelock.
    const noKill = samples.map((s) => ({ ...s, oomKills: 0 }));
    expect(decideVerdict(input(noKill)).verdict).toBe('livelock');
  });

  it('livelock beats deadlock: a stall with climbing retries is livelock', () => {
    const stalled = partition(40, stuck);
    expect(decideVerdict(input(stalled)).verdict).toBe('deadlock');
    const withRetries = stalled.map((s) => ({ ...s, retries: s.t > 22 ? 100 * (s.t - 22) : 0 }));
    expect(decideVerdict(input(withRetries)).verdict).toBe('livelock');
  });

  it('deadlock beats completed: recovered after the heal, then stalled again until the end', () => {
    // Everything issued by the heal completes at 24 (recoverySeconds 2), then a new stall.
    const samples = partition(45, (t) =>
      t < 24
        ? { issued: 400, completed: 110 + 145 * (t - 22), pending: 290 - 145 * (t - 22) }
        : { issued: 450, completed: 400, pending: 50 },
    );
    const r = decideVerdict(input(samples));
    expect(r.verdict).toBe('deadlock');
    expect(r.recoverySeconds).toBe(2);
  });
});

describe('decideVerdict: degenerate input', () => {
  it('an empty sample list is deadlock with no recovery (machine A never answered)', () => {
    expect(decideVerdict(input([]))).toEqual({
      verdict: 'deadlock',
      recoverySeconds: null,
      reason: 'machine A never answered',
    });
  });

  it('a heal after the last sample gives no recovery time', () => {
    const samples = series(0, 20, 1, (t) => ({ issued: 10 * t, completed: 10 * t }));
    expect(decideVerdict(input(samples, { lastHealAt: 25 })).recoverySeconds).toBeNull();
  });
});
