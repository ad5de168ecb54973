// Run records made up for report tests: a timeline shaped like partition-c's (memory
// filled, C stalled from 12 to 22 s, completions frozen during the stall, pfmemalloc
// drops from the stall on), with every field a test may override. No process runs.
import { defaultKnobs } from '../../nodes/knobs.ts';
import type { RunRecord, RunResult, TimelinePoint } from '../../orchestrator/runner.ts';

export interface FakeRecordOptions {
  readonly scenario?: string;
  readonly policy?: string;
  readonly verdict?: RunResult['verdict'];
  readonly reason?: string;
  /** Seconds of timeline, sampled every 0.25 s (default 40). */
  readonly seconds?: number;
  /** Whether completions resume after the heal (default: false, a deadlock). */
  readonly recovers?: boolean;
  readonly faults?: RunRecord['faults'];
  readonly knobs?: RunRecord['knobs'];
  readonly recoverySeconds?: number | null;
}

/** One sample at `t` seconds. */
export function fakePoint(t: number, recovers: boolean): TimelinePoint {
  const stalled = t >= 12 && (t < 22 || !recovers);
  const completed = Math.round(stalled ? 12 * 4000 : t * 4000);
  return {
    t,
    pages: {
      free: t < 1 ? 57_000 : stalled ? 192 : 600,
      anon: 64_000,
      file_clean: 0,
      file_dirty: 0,
      writeback: stalled ? 126 : 40,
      skb: stalled ? 595 : 200,
      kernel: 0,
    },
    watermarks: { min: 512, low: 640, high: 768 },
    reserveUsed: stalled ? 8 : 0,
    reserveSize: 512,
    reserveCached: null,
    issued: completed + (stalled ? 126 : 40),
    completed,
    pending: stalled ? 126 : 40,
    drops: {
      nomem: 0,
      pfmemalloc: t < 12 ? 0 : Math.round((t - 12) * 1500),
      proto_mem: 0,
      rcvbuf: 0,
      duplicate: t > 13 ? 3 : 0,
      out_of_order: 0,
    },
    delivered: Math.round(t * 2000),
    tcpMem: stalled ? 595 : 200,
    tcpMemLimits: [3036, 4048, 6072],
    serviceMessages: Math.round(t * 1900),
    blockedTasks: stalled ? 3 : 0,
    memcgUsage: null,
    writeLatencyCounts: [0, completed, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  };
}

/** A whole record; the result agrees with the last sample. */
export function fakeRecord(o: FakeRecordOptions = {}): RunRecord {
  const seconds = o.seconds ?? 40;
  const recovers = o.recovers ?? false;
  const timeline: TimelinePoint[] = [];
  for (let i = 0; i * 0.25 <= seconds; i++) timeline.push(fakePoint(i * 0.25, recovers));
  const last = timeline.at(-1);
  const verdict = o.verdict ?? (recovers ? 'completed' : 'deadlock');
  return {
    result: {
      engine: 'real',
      scenario: o.scenario ?? 'partition-c',
      policy: o.policy ?? (recovers ? 'memalloc' : 'vanilla'),
      era: 'modern',
      seed: 1,
      verdict,
      writeout: {
        issued: last?.issued ?? 0,
        completed: last?.completed ?? 0,
        pendingAtEnd: last?.pending ?? 0,
      },
      recoverySeconds: o.recoverySeconds !== undefined ? o.recoverySeconds : recovers ? 0.3 : null,
      rx: {
        delivered: last?.delivered ?? 0,
        tossedPfmemalloc: last?.drops.pfmemalloc ?? 0,
        droppedNoMem: 0,
        droppedProtoMem: 0,
      },
      reserve: { sizePages: 512, peakUsedPages: 9 },
      integrity: { pagesVerified: 11_466, mismatches: 0 },
      oomKills: 0,
      durationSeconds: seconds,
    },
    reason:
      o.reason ??
      (recovers
        ? 'every writeout issued before the heal completed 0.3 s after it'
        : '126 writeouts pending and none completed in the last 10 s'),
    timeline,
    events: [
      { t: 0, what: 'start hog' },
      { t: 4, what: 'start flood' },
      { t: 12, what: 'fault c stall' },
      { t: 22, what: 'heal c' },
      { t: seconds, what: 'end' },
    ],
    faults: o.faults ?? [{ target: 'c', mode: 'stall', from: 12, to: 22 }],
    knobs: o.knobs ?? defaultKnobs(),
    stallWindowSeconds: 10,
  };
}
