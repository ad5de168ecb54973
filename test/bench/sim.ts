// Simulation benchmark: how much faster than real time the simulation engine runs whole
// scenarios (partition-c and long-partition under vanilla, seed 1), in this process, one
// after the other. Wall seconds and CPU seconds (process.cpuUsage: the machine is shared,
// so the wall clock also measures the neighbours) per scenario, the speedups they give
// over the scenario's model time, and the process's peak RSS over all of them. Each
// scenario runs twice: the first run is what one `swapnet run --engine sim` sees (the
// JIT still compiling the machines' code: the first scenario pays most of that), the
// repeat what each run of a sweep sees in its warm worker.
import { planRun } from '../../orchestrator/run-plan.ts';
import { runPlan } from '../../orchestrator/runner.ts';

export interface SimScenarioResult {
  readonly name: string;
  readonly verdict: string;
  /** The scenario's length in model time. */
  readonly modelSeconds: number;
  readonly wallSeconds: number;
  /** modelSeconds / wallSeconds. */
  readonly speedup: number;
  /** User + system CPU time of this process during the run. */
  readonly cpuSeconds: number;
  /** modelSeconds / cpuSeconds: the speedup on a core of one's own. */
  readonly cpuSpeedup: number;
  /** The same scenario again in the same process (the JIT warm). */
  readonly repeatWallSeconds: number;
  readonly repeatSpeedup: number;
}

export interface SimBenchResult {
  readonly scenarios: readonly SimScenarioResult[];
  /** Peak resident set of this process (ru_maxrss) after every scenario ran. */
  readonly peakRssMiB: number;
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

export async function benchSim(
  names: readonly string[] = ['partition-c', 'long-partition'],
  policy = 'vanilla',
  log: (line: string) => void = () => {},
): Promise<SimBenchResult> {
  const scenarios: SimScenarioResult[] = [];
  for (const name of names) {
    const first = await timeRun(name, policy);
    const repeat = await timeRun(name, policy);
    const modelSeconds = first.modelSeconds;
    const r: SimScenarioResult = {
      name,
      verdict: first.verdict,
      modelSeconds,
      wallSeconds: round(first.wallSeconds, 2),
      speedup: round(modelSeconds / first.wallSeconds, 1),
      cpuSeconds: round(first.cpuSeconds, 2),
      cpuSpeedup: round(modelSeconds / first.cpuSeconds, 1),
      repeatWallSeconds: round(repeat.wallSeconds, 2),
      repeatSpeedup: round(modelSeconds / repeat.wallSeconds, 1),
    };
    log(
      `sim: ${name} under ${policy}: ${r.verdict}, ${modelSeconds} s of model time in ${r.wallSeconds} s wall (${r.speedup}x), ${r.cpuSeconds} s CPU (${r.cpuSpeedup}x); again: ${r.repeatWallSeconds} s wall (${r.repeatSpeedup}x)`,
    );
    scenarios.push(r);
  }
  // ru_maxrss is in KiB on Linux.
  const peakRssMiB = round(process.resourceUsage().maxRSS / 1024, 1);
  return { scenarios, peakRssMiB };
}

async function timeRun(
  name: string,
  policy: string,
): Promise<{ verdict: string; modelSeconds: number; wallSeconds: number; cpuSeconds: number }> {
  const plan = planRun({ scenario: name, policy, seed: 1 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const record = await runPlan(plan, { engine: 'sim' });
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    verdict: record.result.verdict,
    modelSeconds: record.result.durationSeconds,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
