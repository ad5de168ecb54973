// The verdict of a run, decided only from what machine A reported (sampled /status),
// never from the policy's name (DESIGN.md section 7):
//   data-loss  any page read back did not match;
//   oom        the OOM killer killed a task;
//   livelock   allocation retries kept running while nothing completed (NOFAIL);
//   deadlock   writeouts pending and none completed for the stall window after the heal;
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
  readonly oomKills: number;
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

  if (last.integrityErrors > 0) {
    return {
      verdict: 'data-loss',
      recoverySeconds,
      reason: `${last.integrityErrors} page(s) came back wrong from swap`,
    };
  }
  if (last.oomKills > 0) {
    return {
      verdict: 'oom',
      recoverySeconds,
      reason: `the OOM killer killed ${last.oomKills} task(s)`,
    };
  }

  // The final window: from the later of (end - window) and the heal (or first fault).
  const windowStart = Math.max(last.t - w, input.lastHealAt ?? input.firstFaultAt ?? 0);
  const from = sampleAt(samples, windowStart) ?? last;
  const completedInWindow = last.completed - from.completed;
  const retriesInWindow = last.retries - from.retries;
  const windowLength = last.t - from.t;
  const stalled = last.pending > 0 && completedInWindow === 0 && windowLength >= w * 0.9;

  if (stalled && retriesInWindow > 10 * w) {
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
