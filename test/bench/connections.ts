// Connections benchmark: a real topology (C, A, and B with `flood.connections` = 1000,
// started by the orchestrator's own code with partition-c's load: the hog swapping to C,
// the flood at 2000 frames/s spread over every connection), under `memalloc`. Under
// vanilla, 1000 connections' queued skbs can take A down to GFP_ATOMIC's floor with no
// partition at all, and writeout then wedges: the deadlock swapnet models, not a sick
// process. Once A holds all 1000 and swaps to C, they are held for a while; A is healthy
// when every sample found /healthz ok and all 1000 connections up, and writeout kept
// completing. aRssMiB is the largest resident set A had (VmRSS) during the hold.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRun } from '../../orchestrator/run-plan.ts';
import { Topology } from '../../orchestrator/topology.ts';

export interface ConnectionsResult {
  readonly count: number;
  readonly aRssMiB: number;
  readonly healthy: boolean;
}

interface AStatus {
  readonly connections: { readonly b: number };
  readonly swap: { readonly completed: number };
  readonly memory: { readonly pages: { readonly free: number; readonly skb: number } };
}

const SAMPLE_MS = 500;

/** Resident set of `pid` in MiB (VmRSS of /proc/<pid>/status). */
function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

async function healthz(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return res.ok && ((await res.json()) as { ok?: unknown }).ok === true;
  } catch {
    return false;
  }
}

/** CPU seconds `pid` has used (utime + stime of /proc/<pid>/stat, at 100 ticks a second). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function benchConnections(
  count = 1000,
  holdSeconds = 10,
  log: (line: string) => void = () => {},
): Promise<ConnectionsResult> {
  // A state directory of its own: `swapnet down` elsewhere never touches this topology.
  const state = mkdtempSync(join(tmpdir(), 'swapnet-bench-state-'));
  const previousState = process.env.SWAPNET_STATE_DIR;
  process.env.SWAPNET_STATE_DIR = state;
  const plan = planRun({
    scenario: 'partition-c',
    policy: 'memalloc',
    sets: [`flood.connections=${count}`],
  });
  let topology: Topology | undefined;
  try {
    topology = await Topology.start({ knobs: plan.knobs, seed: plan.seed, readyTimeoutMs: 60_000 });
    const t = topology;
    const a = t.node('a');
    if (!a) throw new Error('A did not start');

    // Every connection up on both sides (B connects as fast as A accepts), and A swapping
    // to C (the hog has filled its memory): the state the hold must keep.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = await t.status<AStatus>('a');
      const b = await t.status<{ connections: { open: number } }>('b');
      if (s?.connections.b === count && b?.connections.open === count && s.swap.completed > 0)
        break;
      if (Date.now() > deadline)
        throw new Error(
          `after 120 s A holds ${s?.connections.b} and B ${b?.connections.open} of ${count} connections, ${s?.swap.completed} writeouts completed`,
        );
      await pause(SAMPLE_MS);
    }
    log(`connections: all ${count} up and A swapping; holding them ${holdSeconds} s`);

    const b = t.node('b');
    const cpu0 = { a: cpuSeconds(a.pid), b: b ? cpuSeconds(b.pid) : 0 };
    const first = await t.status<AStatus>('a');
    let healthy = first !== undefined;
    let peak = rssMiB(a.pid);
    let last = first;
    const end = Date.now() + holdSeconds * 1000;
    while (Date.now() < end) {
      await pause(SAMPLE_MS);
      const ok = await healthz(a.httpUrl);
      const s = await t.status<AStatus>('a');
      peak = Math.max(peak, rssMiB(a.pid));
      if (!ok || s?.connections.b !== count || a.child.exitCode !== null) {
        log(`connections: unhealthy sample: healthz ${ok}, A holds ${s?.connections.b}`);
        healthy = false;
      }
      if (s) last = s;
    }
    const completed = (last?.swap.completed ?? 0) - (first?.swap.completed ?? 0);
    const busy = (pid: number | undefined, at0: number): string =>
      pid === undefined ? '-' : `${(((cpuSeconds(pid) - at0) / holdSeconds) * 100).toFixed(0)}%`;
    log(
      `connections: ${completed} writeouts completed during the hold; A's RSS peak ${peak.toFixed(1)} MiB; model pages skb ${last?.memory.pages.skb} free ${last?.memory.pages.free}; CPU A ${busy(a.pid, cpu0.a)}, B ${busy(b?.pid, cpu0.b)}`,
    );
    if (completed <= 0) healthy = false;
    return { count, aRssMiB: Math.round(peak * 10) / 10, healthy };
  } finally {
    await topology?.stop();
    if (previousState === undefined) delete process.env.SWAPNET_STATE_DIR;
    else process.env.SWAPNET_STATE_DIR = previousState;
    rmSync(state, { recursive: true, force: true });
  }
}
