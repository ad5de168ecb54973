// Running a scenario against a topology of any engine (orchestrator/engine.ts): start
// it, play the timeline (start workloads, faults, heals, restarts), sample machine A's
// status every 250 ms of the engine's time, show a progress line once a second, heal every
// fault at the end, stop everything, and decide the verdict from the samples. Ctrl-C (the
// abort signal) stops the run cleanly.
import type { AStatus } from '../nodes/machines/machine-a.ts';
import type { FaultMode } from '../nodes/machines/fault-gate.ts';
import type { NodeRole } from '../nodes/node-args.ts';
import type { EngineName, EngineTopology, RunnerStatus } from './engine.ts';
import { startRealTopology } from './engines/real.ts';
import { runSimulation } from './engines/sim.ts';
import { startUmlTopology } from './engines/uml.ts';
import { applyFault, checkFault, healFault } from './fault-plan.ts';
import type { Action } from './scenario.ts';
import type { RunPlan } from './run-plan.ts';
import { NodeFailedError } from './topology.ts';
import { decideVerdict, type Sample, type Verdict } from './verdict.ts';
import {
  countsBetween,
  LATENCY_BOUNDS_MS,
  quantileMs,
} from '../nodes/machines/latency-histogram.ts';

const SAMPLE_MS = 250;

/** What the one-line progress reads of A's status (derived from the machine's type). */
export interface ProgressStatus {
  readonly memory: {
    readonly pages: Pick<AStatus['memory']['pages'], 'free'>;
    readonly watermarks: Pick<AStatus['memory']['watermarks'], 'min'>;
    readonly reserve: Pick<AStatus['memory']['reserve'], 'usedPages'>;
  };
  readonly swap: Pick<AStatus['swap'], 'pending' | 'completed'>;
  readonly rx: { readonly drops: Readonly<Record<string, Readonly<Record<string, number>>>> };
}

/** One point of the run's timeline (kept for reports). */
export interface TimelinePoint {
  readonly t: number;
  readonly pages: Record<string, number>;
  readonly watermarks: { min: number; low: number; high: number };
  readonly reserveUsed: number;
  /** The reserve's size now (the dynamic pool's target grows and shrinks). */
  readonly reserveSize: number;
  /** Pages the dynamic pool holds now (null with the static reserve). */
  readonly reserveCached: number | null;
  readonly issued: number;
  readonly completed: number;
  readonly pending: number;
  readonly drops: Record<string, number>;
  /**
   * pfmemalloc drops by socket class (swap: C's replies, service: B's data): whose
   * packets the demux tossed. Absent in records of older versions.
   */
  readonly tossedByClass?: Record<string, number>;
  readonly delivered: number;
  readonly tcpMem: number;
  readonly tcpMemLimits: readonly [number, number, number];
  readonly serviceMessages: number;
  readonly blockedTasks: number;
  readonly memcgUsage: number | null;
  /** Of memcgUsage, socket buffer pages (mem_cgroup_charge_skmem). */
  readonly memcgSocketPages: number | null;
  /** Writeout latency so far: cumulative counts per bucket of LATENCY_BOUNDS_MS. */
  readonly writeLatencyCounts: readonly number[];
}

export interface RunEvent {
  readonly t: number;
  readonly what: string;
}

export interface FaultPeriod {
  readonly target: NodeRole;
  readonly mode: string;
  readonly from: number;
  to: number | null;
}

/** The JSON contract of `swapnet run --json` (DESIGN.md section 9). */
export interface RunResult {
  readonly engine: EngineName;
  readonly scenario: string;
  readonly policy: string;
  readonly era: string;
  readonly seed: number;
  readonly verdict: Verdict;
  readonly writeout: { issued: number; completed: number; pendingAtEnd: number };
  readonly recoverySeconds: number | null;
  readonly rx: {
    delivered: number;
    tossedPfmemalloc: number;
    droppedNoMem: number;
    droppedProtoMem: number;
  };
  readonly reserve: { sizePages: number; peakUsedPages: number };
  readonly integrity: { pagesVerified: number; mismatches: number };
  readonly oomKills: number;
  readonly durationSeconds: number;
  /**
   * The uml engine only: the guest kernel (version, NIC, swap transport), its own
   * counters over the run, and, when it did not complete, where it hangs (sysrq w/l/m).
   */
  readonly kernel?: Readonly<Record<string, unknown>>;
}

/** Writeout latency over the steady part of a run (before the first fault). */
export interface SteadyLatency {
  readonly fromSeconds: number;
  readonly toSeconds: number;
  /** Writeouts completed in that interval. */
  readonly writeouts: number;
  /** Upper bounds of the buckets holding the median and the 99th percentile (ms). */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** A rate a run asked for against the one it got, over the steady part of the run. */
export interface AchievedRate {
  /** Per second; null when the knobs set no rate (flood.rate 0: as fast as windows allow). */
  readonly configured: number | null;
  readonly achieved: number;
}

/**
 * The rates of the steady part of a run (from the flood's start to the first fault):
 * B's new frames, the service's messages (it should keep up with B while C answers), the
 * hogs' page touches (after their first pass). A real run whose processes could not keep
 * up (a starved CPU) is told apart from the scenario by these.
 */
export interface SteadyRates {
  readonly fromSeconds: number;
  readonly toSeconds: number;
  readonly floodFrames: AchievedRate;
  readonly serviceMessages: AchievedRate;
  readonly hogPages: AchievedRate;
  /** What fell short of what was asked (below 80%), in words; empty when nothing did. */
  readonly warnings: readonly string[];
}

/** Achieved below this share of the configured rate is reported as not keeping up. */
const KEEP_UP_SHARE = 0.8;

/** The steady rates between two snapshots of A (and B's frame count at the second). */
export function steadyRates(
  knobs: RunPlan['knobs'],
  from: { t: number; hogTouches: number; serviceMessages: number },
  to: { t: number; hogTouches: number; serviceMessages: number; floodFrames: number },
): SteadyRates {
  const span = Math.max(to.t - from.t, 1e-9);
  const round = (x: number): number => Number(x.toFixed(1));
  const floodRate = knobs['flood.rate'] > 0 ? knobs['flood.rate'] : null;
  const floodAchieved = round(to.floodFrames / span);
  const serviceAchieved = round((to.serviceMessages - from.serviceMessages) / span);
  const hogConfigured =
    knobs['hog.batchIntervalMs'] > 0
      ? round(
          (knobs['hog.tasks'] * knobs['hog.pagesPerBatch'] * 1000) / knobs['hog.batchIntervalMs'],
        )
      : null;
  const hogAchieved = round((to.hogTouches - from.hogTouches) / span);
  const warnings: string[] = [];
  const short = (what: string, achieved: number, configured: number | null): void => {
    if (configured !== null && configured > 0 && achieved < KEEP_UP_SHARE * configured)
      warnings.push(`${what}: ${achieved}/s of ${configured}/s configured`);
  };
  short('B sent', floodAchieved, floodRate);
  // The service is offered what B sends; it keeps up unless it (or its CPU) cannot.
  short('the service read', serviceAchieved, floodAchieved > 0 ? floodAchieved : null);
  short('the hogs touched', hogAchieved, hogConfigured);
  return {
    fromSeconds: round(from.t),
    toSeconds: round(to.t),
    floodFrames: { configured: floodRate, achieved: floodAchieved },
    serviceMessages: {
      configured: floodAchieved > 0 ? floodAchieved : null,
      achieved: serviceAchieved,
    },
    hogPages: { configured: hogConfigured, achieved: hogAchieved },
    warnings,
  };
}

/** What a report needs beyond the JSON result. */
export interface RunRecord {
  readonly result: RunResult;
  readonly reason: string;
  readonly timeline: readonly TimelinePoint[];
  readonly events: readonly RunEvent[];
  readonly faults: readonly FaultPeriod[];
  readonly knobs: RunPlan['knobs'];
  readonly stallWindowSeconds: number;
  /** Writeout latency before the first fault (absent in records of older versions). */
  readonly steadyLatency?: SteadyLatency;
  /** The steady part's rates against the knobs (absent in records of older versions). */
  readonly rates?: SteadyRates;
  /** Machine A's model counters at the last sample (MemStats: reclaim, reserve, OOM...). */
  readonly finalStats?: Readonly<Record<string, number>>;
  /**
   * Wall-clock seconds the run took (by nature different from run to run; in a simulation
   * the record is otherwise byte-identical for the same plan and seed).
   */
  readonly wallSeconds?: number;
}

export interface RunOptions {
  /** Called once a second with a compact progress line. */
  readonly onProgress?: (line: string) => void;
  /** Aborts the run (Ctrl-C): the topology is stopped and the promise rejects. */
  readonly signal?: AbortSignal;
  /** Node log level (default warn). */
  readonly logLevel?: string;
  /** The engine (default real). */
  readonly engine?: EngineName;
  /** Called for every node log line at warn level or above. */
  readonly onNodeLog?: (role: NodeRole, entry: Record<string, unknown>) => void;
}

function sum(o: Record<string, number>): number {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

function dropTotals(status: ProgressStatus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, byClass] of Object.entries(status.rx.drops)) out[reason] = sum(byClass);
  return out;
}

function toSample(t: number, s: RunnerStatus): Sample {
  return {
    t,
    issued: s.swap.issued,
    completed: s.swap.completed,
    pending: s.swap.pending,
    pagesVerified: s.swap.pagesVerified,
    integrityErrors: s.swap.integrityErrors,
    swapInErrors: s.stats.swapInErrors,
    oomKills: s.stats.oomKills,
    retries: s.stats.allocRetries + s.stats.nofailRetries,
    oomPanics: s.stats.oomPanics ?? 0,
  };
}

function toPoint(t: number, s: RunnerStatus): TimelinePoint {
  return {
    t,
    pages: { ...s.memory.pages },
    watermarks: { ...s.memory.watermarks },
    reserveUsed: s.memory.reserve.usedPages,
    reserveSize: s.memory.reserve.sizePages,
    reserveCached: s.memory.reserve.cachedPages ?? null,
    issued: s.swap.issued,
    completed: s.swap.completed,
    pending: s.swap.pending,
    drops: dropTotals(s),
    tossedByClass: { ...s.rx.drops.pfmemalloc },
    delivered: sum(s.rx.delivered),
    tcpMem: s.tcpMem.allocated,
    tcpMemLimits: [...s.tcpMem.limits] as [number, number, number],
    serviceMessages: s.workloads.serviceMessages,
    blockedTasks: s.tasks.filter((x) => x.activity.startsWith('D:')).length,
    memcgUsage: s.memcgs[0]?.usage ?? null,
    memcgSocketPages: s.memcgs[0]?.socketPages ?? null,
    writeLatencyCounts: s.swap.writeLatency?.counts ?? [],
  };
}

/**
 * Writeout latency in the steady part of a run: from the flood's start (or the run's)
 * to the first fault (or the end). Quantiles are bucket upper bounds.
 */
export function steadyWriteLatency(
  timeline: readonly TimelinePoint[],
  from: number,
  to: number,
): SteadyLatency {
  const inside = timeline.filter((p) => p.t >= from && p.t <= to);
  const first = inside[0];
  const last = inside.at(-1);
  const counts = last ? countsBetween(first?.writeLatencyCounts, last.writeLatencyCounts) : [];
  // Beyond the last bound reads as the last bound (shown as ">= 10 s").
  const capped = (v: number | null): number | null =>
    v === null ? null : Math.min(v, LATENCY_BOUNDS_MS.at(-1) ?? v);
  return {
    fromSeconds: Number(from.toFixed(2)),
    toSeconds: Number(to.toFixed(2)),
    writeouts: counts.reduce((a, b) => a + b, 0),
    p50Ms: capped(quantileMs(counts, 0.5)),
    p99Ms: capped(quantileMs(counts, 0.99)),
  };
}

/** The compact progress line: phase, free vs min, reserve, writeouts, drops. */
export function progressLine(t: number, phase: string, s: ProgressStatus | undefined): string {
  if (!s) return `${t.toFixed(0).padStart(3)}s ${phase.padEnd(9)} (machine A not answering)`;
  const d = dropTotals(s);
  const drops = ['pfmemalloc', 'nomem', 'proto_mem', 'rcvbuf']
    .filter((r) => (d[r] ?? 0) > 0)
    .map((r) => `${r}=${d[r]}`)
    .join(' ');
  return [
    `${t.toFixed(0).padStart(3)}s`,
    phase.padEnd(9),
    `free ${s.memory.pages.free}/min ${s.memory.watermarks.min}`,
    `reserve ${s.memory.reserve.usedPages}`,
    `writeout ${s.swap.pending} pending ${s.swap.completed} done`,
    drops ? `drops ${drops}` : 'no drops',
  ].join('  ');
}

export { sleepUnlessAborted } from './engines/real.ts';

/** Runs a plan against a fresh topology of its engine and returns the record. */
export async function runPlan(plan: RunPlan, opts: RunOptions = {}): Promise<RunRecord> {
  const started = performance.now();
  const engine = opts.engine ?? 'real';
  let record: RunRecord;
  if (engine === 'sim') {
    record = await runSimulation(
      {
        knobs: plan.knobs,
        seed: plan.seed,
        ...(opts.onNodeLog ? { onNodeLog: opts.onNodeLog } : {}),
      },
      (topo) => runOnTopology(plan, topo, opts),
    );
  } else if (engine === 'uml') {
    const topo = await startUmlTopology({
      plan,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onNodeLog
        ? { onGuestLog: (line: string) => opts.onNodeLog?.('a', { level: 40, msg: line }) }
        : {}),
    });
    try {
      record = await runOnTopology(plan, topo, opts);
    } finally {
      await topo.close();
    }
  } else {
    const knobs = plan.knobs;
    // The netns fault needs C in a namespace from the start.
    const netns =
      knobs['fault.mode'] === 'netns' ||
      plan.scenario.timeline.some((a) => a.do === 'fault' && a.mode === 'netns');
    const topo = await startRealTopology({
      knobs,
      seed: plan.seed,
      netns,
      logLevel: opts.logLevel ?? 'warn',
      ...(opts.onNodeLog ? { onNodeLog: opts.onNodeLog } : {}),
    });
    try {
      record = await runOnTopology(plan, topo, opts);
    } finally {
      await topo.close();
    }
  }
  return { ...record, wallSeconds: Number(((performance.now() - started) / 1000).toFixed(2)) };
}

/** Plays a plan's timeline on a running topology (which the caller closes). */
async function runOnTopology(
  plan: RunPlan,
  topo: EngineTopology,
  opts: RunOptions,
): Promise<RunRecord> {
  const knobs = plan.knobs;
  const clock = topo.clock;
  const now = (): number => clock.now();
  const samples: Sample[] = [];
  const timeline: TimelinePoint[] = [];
  const events: RunEvent[] = [];
  const faults: FaultPeriod[] = [];
  const active = new Map<NodeRole, FaultPeriod>();
  let phase = 'warm-up';
  let lastStatus: RunnerStatus | undefined;
  /** Since when A has not answered (undefined while it answers). */
  let silentSince: number | undefined;
  let firstFaultAt: number | undefined;
  let lastHealAt: number | undefined;
  let floodStart: { t: number; hogTouches: number; serviceMessages: number } | undefined;
  let rates: SteadyRates | undefined;
  const finished = new AbortController();
  /** Snapshots the steady rates once, when the flood's steady part ends. */
  const snapshotRates = async (): Promise<void> => {
    if (!floodStart || rates) return;
    const s = lastStatus;
    const frames = await topo.floodFramesSent();
    if (!s || frames === undefined) return;
    rates = steadyRates(knobs, floodStart, {
      t: now(),
      hogTouches: s.workloads.hogTouches,
      serviceMessages: s.workloads.serviceMessages,
      floodFrames: frames,
    });
  };

  const sampler = (async () => {
    while (!finished.signal.aborted) {
      const s = await topo.statusA();
      const t = now();
      if (!s) silentSince ??= t;
      if (s) {
        silentSince = undefined;
        lastStatus = s;
        samples.push(toSample(t, s));
        timeline.push(toPoint(t, s));
      }
      await clock.sleep(SAMPLE_MS / 1000, finished.signal).catch(() => {});
    }
  })();
  const progress = (async () => {
    while (!finished.signal.aborted) {
      await clock.sleep(1, finished.signal).catch(() => {});
      if (!finished.signal.aborted) opts.onProgress?.(progressLine(now(), phase, lastStatus));
    }
  })();

  const heal = async (target: NodeRole): Promise<void> => {
    const f = active.get(target);
    if (!f) return;
    await healFault(topo, target, f.mode as FaultMode);
    f.to = now();
    active.delete(target);
  };

  // Knob overrides of the scenario's fault timing.
  const actions: Action[] = plan.scenario.timeline.map((a) => ({ ...a }));
  const at = knobs['fault.atSeconds'];
  const dur = knobs['fault.forSeconds'];
  const firstFault = actions.find((a) => a.do === 'fault');
  if (firstFault && at !== null) firstFault.at = at;
  const firstHeal = actions.find((a) => a.do === 'heal');
  if (firstFault && firstHeal && dur !== null) firstHeal.at = firstFault.at + dur;
  actions.sort((x, y) => x.at - y.at || (x.do === 'end' ? 1 : 0) - (y.do === 'end' ? 1 : 0));

  try {
    for (const action of actions) {
      await clock.sleep(action.at - now(), opts.signal);
      const t = now();
      switch (action.do) {
        case 'start':
          await topo.startWorkload(action.workload);
          events.push({ t, what: `start ${action.workload}` });
          if (action.workload === 'flood' && !floodStart && lastStatus)
            floodStart = {
              t,
              hogTouches: lastStatus.workloads.hogTouches,
              serviceMessages: lastStatus.workloads.serviceMessages,
            };
          if (phase === 'warm-up' && action.workload === 'flood') phase = 'flood';
          break;
        case 'stop':
          await topo.stopWorkload(action.workload);
          events.push({ t, what: `stop ${action.workload}` });
          break;
        case 'fault': {
          await snapshotRates();
          const mode = action.mode ?? knobs['fault.mode'];
          const request = checkFault(action.target, {
            mode,
            direction: action.direction ?? 'both',
            lossRate: knobs['fault.lossRate'],
            delayMs: knobs['fault.delayMs'],
            jitterMs: knobs['fault.jitterMs'],
            seed: plan.seed,
          });
          await applyFault(topo, action.target, request);
          const period: FaultPeriod = { target: action.target, mode, from: t, to: null };
          faults.push(period);
          active.set(action.target, period);
          firstFaultAt ??= t;
          phase = 'fault';
          events.push({ t, what: `fault ${action.target} ${mode}` });
          break;
        }
        case 'heal':
          await heal(action.target);
          lastHealAt = t;
          phase = 'healed';
          events.push({ t, what: `heal ${action.target}` });
          break;
        case 'restart':
          await topo.restart(action.target);
          // A restarted node starts healthy: its fault (if it was a gate mode) is gone.
          if (active.get(action.target)?.mode !== 'pause') {
            const f = active.get(action.target);
            if (f) {
              f.to = now();
              active.delete(action.target);
            }
          }
          events.push({ t, what: `restart ${action.target}` });
          break;
        case 'end':
          await snapshotRates();
          events.push({ t, what: 'end' });
          break;
      }
    }
  } finally {
    finished.abort();
    await sampler;
    await progress;
    for (const target of [...active.keys()]) {
      try {
        await heal(target);
      } catch {
        /* the node may be gone; closing the topology ends it anyway */
      }
    }
  }

  if (samples.length === 0)
    throw new NodeFailedError('a', 'never answered /status during the run', '');
  const decided = decideVerdict({
    samples,
    lastHealAt,
    firstFaultAt,
    stallWindowSeconds: plan.scenario.stallWindowSeconds,
    ...(silentSince !== undefined && samples.length > 0
      ? { silent: { since: silentSince, end: now() } }
      : {}),
  });
  const s = lastStatus;
  const drops = s ? dropTotals(s) : {};
  const result: RunResult = {
    engine: topo.engine,
    scenario: plan.scenario.name,
    policy: plan.policy.name,
    era: plan.era,
    seed: plan.seed,
    verdict: decided.verdict,
    writeout: {
      issued: s?.swap.issued ?? 0,
      completed: s?.swap.completed ?? 0,
      pendingAtEnd: s?.swap.pending ?? 0,
    },
    recoverySeconds:
      decided.recoverySeconds === null ? null : Number(decided.recoverySeconds.toFixed(2)),
    rx: {
      delivered: s ? sum(s.rx.delivered) : 0,
      tossedPfmemalloc: drops.pfmemalloc ?? 0,
      droppedNoMem: drops.nomem ?? 0,
      droppedProtoMem: drops.proto_mem ?? 0,
    },
    reserve: {
      sizePages: s?.memory.reserve.sizePages ?? 0,
      peakUsedPages: s?.memory.reserve.peakUsedPages ?? 0,
    },
    integrity: {
      pagesVerified: s?.swap.pagesVerified ?? 0,
      mismatches: s?.swap.integrityErrors ?? 0,
    },
    oomKills: s?.stats.oomKills ?? 0,
    durationSeconds: Number(now().toFixed(2)),
    ...(topo.finalReport ? await topo.finalReport(decided.verdict) : {}),
  };
  const floodAt = events.find((e) => e.what === 'start flood')?.t ?? 0;
  return {
    result,
    reason: decided.reason,
    timeline,
    events,
    faults,
    knobs,
    stallWindowSeconds: plan.scenario.stallWindowSeconds,
    steadyLatency: steadyWriteLatency(timeline, floodAt, firstFaultAt ?? now()),
    ...(rates ? { rates } : {}),
    ...(s ? { finalStats: { ...s.stats } } : {}),
  };
}
