// The verdict of a run, decided only from what machine A reported (sampled /status),
// never from the policy's name (DESIGN.md section 7):
//   data-loss  any page read back did not match;
//   oom        the OOM killer killed a task, or found none to kill outside a memcg (the
//              kernel panics there: "System is deadlocked on memory");
//   livelock   allocation retries kept running while nothing completed (NOFAIL);
//   deadlock   writeouts pending and none completed for the stall window after the heal;
//              or machine A stopped answering and stayed silent for a whole stall window
//              at the end (a hung machine: nothing it does can be seen to complete);
//   completed  otherwise: writeout goes on (every writeout issued before the heal
//              completes after it, or the run ended while it was still draining).
// Pure: tested with synthetic samples.

export const VERDICTS = ['completed', 'deadlock', 'livelock', 'oom', 'data-loss'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** What the verdict needs from one sample of A's /status, at `t` seconds since the run began. */
export interface Sample {
  readonly t: number;
  readonly issued: number;
  readonly completed: number;
  readonly pending: number;
  readonly pagesVerified: number;
  readonly integrityErrors: number;
  /** Swap-ins C could not serve (a page it had confirmed and then did not have). */
  readonly swapInErrors: number;
  readonly oomKills: number;
  /** Global OOMs with no victim: kernel panics (absent in older records: 0). */
  readonly oomPanics?: number;
  /** Slow-path retries plus NOFAIL retries (allocation loops). */
  readonly retries: number;
}

export interface VerdictInput {
  readonly samples: readonly Sample[];
  /** Seconds since the run began of the last heal (undefined: the scenario never healed). */
  readonly lastHealAt: number | undefined;
  /** Seconds since the run began of the first fault (undefined: none). */
  readonly firstFaultAt: number | undefined;
  readonly stallWindowSeconds: number;
  /**
   * When machine A stopped answering, if it never answered again, and when the run ended
   * (seconds since the run began). The samples end at the first.
   */
  readonly silent?: { readonly since: number; readonly end: number };
}

export interface VerdictResult {
  readonly verdict: Verdict;
  /** Seconds from the last heal until every writeout issued before it completed; null if never. */
  readonly recoverySeconds: number | null;
  /** Why, in words (for the progress view and reports). */
  readonly reason: string;
}

/** The sample at or just after `t` (the first with sample.t >= t), else the last. */
function sampleAt(samples: readonly Sample[], t: number): Sample | undefined {
  return samples.find((s) => s.t >= t) ?? samples.at(-1);
}

/** Decides the verdict. Samples must be in time order; at least one is needed. */
export function decideVerdict(input: VerdictInput): VerdictResult {
  const { samples, stallWindowSeconds: w } = input;
  const last = samples.at(-1);
  if (!last)
    return { verdict: 'deadlock', recoverySeconds: null, reason: 'machine A never answered' };

  // Recovery: every writeout issued by the heal has completed.
  let recoverySeconds: number | null = null;
  if (input.lastHealAt !== undefined) {
    const atHeal = sampleAt(samples, input.lastHealAt);
    if (atHeal) {
      const drained = samples.find((s) => s.t >= input.lastHealAt! && s.completed >= atHeal.issued);
      if (drained) recoverySeconds = Math.max(0, drained.t - input.lastHealAt);
    }
  }

  if (last.integrityErrors > 0 || last.swapInErrors > 0) {
    const what = [
      last.integrityErrors > 0 ? `${last.integrityErrors} page(s) came back wrong from swap` : '',
      last.swapInErrors > 0
        ? `${last.swapInErrors} swap-in(s) failed (C did not serve the page)`
        : '',
    ];
    return { verdict: 'data-loss', recoverySeconds, reason: what.filter(Boolean).join('; ') };
  }
  if ((last.oomPanics ?? 0) > 0) {
    return {
      verdict: 'oom',
      recoverySeconds,
      reason:
        'out_of_memory found no task to kill: the kernel panics ("System is deadlocked on memory")',
    };
  }
  if (last.oomKills > 0) {
    return {
      verdict: 'oom',
      recoverySeconds,
      reason: `the OOM killer killed ${last.oomKills} task(s)`,
    };
  }

  // A machine silent for a whole window at the end is hung, whatever its last counters said
  // (a wedged real kernel whose agent could no longer run).
  if (input.silent && input.silent.end - input.silent.since >= w) {
    return {
      verdict: 'deadlock',
      recoverySeconds,
      reason: `machine A stopped answering at ${input.silent.since.toFixed(1)} s and never answered again (${last.pending} writeout(s) pending then)`,
    };
  }

  // Two windows are judged (sampling makes a window 10% shorter at worst):
  //  - the stall window right after the heal: nothing completed while writeouts were pending;
  //  - the final one, from the later of (end - window) and the heal (or the first fault):
  //    writeout stopped again, or never came back in a scenario without a heal.
  const windowAfter = (start: number, end: number): { from: Sample; to: Sample } | undefined => {
    const from = sampleAt(samples, start);
    const within = samples.filter((s) => s.t >= start && s.t <= end);
    const to = within.at(-1);
    return from && to ? { from, to } : undefined;
  };
  const stallIn = (win: { from: Sample; to: Sample } | undefined): boolean =>
    win !== undefined &&
    win.to.pending > 0 &&
    win.to.completed === win.from.completed &&
    win.to.t - win.from.t >= w * 0.9;
  const afterHeal =
    input.lastHealAt !== undefined
      ? windowAfter(input.lastHealAt, input.lastHealAt + w)
      : undefined;
  const finalWindow = windowAfter(
    Math.max(last.t - w, input.lastHealAt ?? input.firstFaultAt ?? 0),
    last.t,
  );
  const stalled = stallIn(afterHeal) || stallIn(finalWindow);
  const judged = stallIn(finalWindow) ? finalWindow : afterHeal;
  const retriesInWindow = judged ? judged.to.retries - judged.from.retries : 0;
  const windowLength = judged ? judged.to.t - judged.from.t : 0;

  // At least one retry every two seconds: a NOFAIL loop goes round at least once a
  // second (a round's reclaim is throttled for up to 100 ms, reclaim_throttle, and with
  // free memory under half the min watermark a caller without __GFP_FS sleeps up to HZ in
  // throttle_direct_reclaim first), a task asleep in D state on the swap queue never.
  if (stalled && retriesInWindow * 2 >= w) {
    return {
      verdict: 'livelock',
      recoverySeconds,
      reason: `${retriesInWindow} allocation retries and no writeout completed in the last ${windowLength.toFixed(0)} s`,
    };
  }
  if (stalled) {
    return {
      verdict: 'deadlock',
      recoverySeconds,
      reason: `${last.pending} writeouts pending and none completed in the last ${windowLength.toFixed(0)} s`,
    };
  }
  const reason =
    recoverySeconds !== null
      ? `every writeout issued before the heal completed ${recoverySeconds.toFixed(1)} s after it`
      : input.lastHealAt !== undefined
        ? 'writeout goes on, still draining what was issued before the heal'
        : 'writeout goes on';
  return { verdict: 'completed', recoverySeconds, reason };
}
