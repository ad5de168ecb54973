// `swapnet sweep`: one scenario under several policies over a grid of knob values, each
// cell a verdict (counted over seeds), run N at a time, kept on disk as it goes; and
// `swapnet sweep merge DIR...`: shards joined into the whole sweep. Everything the user
// typed is checked before anything is written or run: bad input exits 2 naming the flag
// and the value, and leaves the report folder untouched.
import { availableParallelism } from 'node:os';
import { ConfigError } from '../../reserve/errors.ts';
import { EXIT, parseFlags, UsageError, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { findPolicy, POLICIES } from '../policies.ts';
import { progressView } from '../progress-view.ts';
import { planRun } from '../run-plan.ts';
import { loadScenario } from '../scenario.ts';
import { parseAxis } from '../sweep/axis.ts';
import type { SweepJson } from '../sweep/cells.ts';
import { mergeSweeps } from '../sweep/merge.ts';
import { inlinePool, SweepRunError, workerPool, type Pool } from '../sweep/pool.ts';
import { cellsCsv, heatmapSvg, sweepHtml } from '../sweep/report.ts';
import { runJob } from '../sweep/run-job.ts';
import {
  ENGINES,
  gridRuns,
  jobOf,
  parseShard,
  sweepId,
  type Engine,
  type Shard,
  type SweepSpec,
} from '../sweep/spec.ts';
import {
  FORMAT,
  openSweepDir,
  readManifest,
  writeRun,
  writeSweepReport,
  type SweepManifest,
} from '../sweep/store.ts';
import { executeSweep } from '../sweep/sweep.ts';
import { umlConfig } from '../engines/uml.ts';
import { progressText, showValue, sweepText } from '../sweep/text.ts';

/** The engine a sweep uses when --engine is not given. */
export const DEFAULT_SWEEP_ENGINE: Engine = 'sim';
/** Engines this build can run (the others are refused by name). */
export const AVAILABLE_ENGINES: readonly Engine[] = ['sim', 'real', 'uml'];

const USAGE = `usage: swapnet sweep --scenario S --policies P,Q --x KNOB=VALUES [--y KNOB=VALUES]
                     [--engine sim|real|uml] [--seeds N] [--jobs N] [--shard I/N] [--refine K]
                     [--set KEY=VALUE]... [--json] [--report DIR]
       swapnet sweep --resume DIR [--jobs N] [--refine K] [--json]
       swapnet sweep merge DIR... [--json] [--report DIR]

Where does each policy stop working? Runs one scenario under each policy at every point
of a grid of knob values and prints a map of verdicts per policy: completed, deadlock,
livelock, oom, data-loss. With --seeds N each point runs N seeds; a cell whose seeds
disagree is split: the boundary runs through it.

  --scenario S        a built-in (swapnet list) or a .json/.yaml scenario file
  --policies P,Q      policies to compare (default vanilla,memalloc)
  --x KNOB=VALUES     the x axis: any knob (swapnet list), its values a list (0,16,64)
                      or a range: A..B:N (N values evenly spaced, ends included) or
                      A..B:N:log (geometrically spaced); integer knobs get whole values
  --y KNOB=VALUES     the y axis, the same way (e.g. fault.durationSeconds=2,8)
  --engine E          sim, real or uml (default ${DEFAULT_SWEEP_ENGINE}; available: ${AVAILABLE_ENGINES.join(', ')})
  --seeds N           seeds 1..N per point (default 1)
  --jobs N            runs at a time (default the number of cores, ${availableParallelism()} here;
                      1 for uml)
  --shard I/N         run the I-th of N deterministic slices (for batch systems; join
                      the slices' folders with \`swapnet sweep merge\`)
  --refine K          K rounds of bisection along x between neighbouring cells whose
                      verdicts differ: the boundary to a stated precision
  --set KEY=VALUE     a fixed knob under the axes (repeatable)
  --json              print the sweep as one JSON object on stdout
  --report DIR        keep every run in DIR as it ends (DIR/runs/), and write the report:
                      DIR/index.html (heatmaps, self-contained), DIR/heatmap.svg,
                      DIR/cells.csv, DIR/cells.json. Running the same sweep into DIR
                      again runs only what is missing.
  --resume DIR        go on with the sweep kept in DIR (after Ctrl-C, a crash, or to
                      --refine it): runs only the missing runs

A progress bar (runs done of all, ETA) shows on stderr. Ctrl-C stops the runs in hand
and keeps every finished one (exit 130). Exit codes: 0 done, 2 bad usage (the message
names the flag and the value), 3 a run failed.`;

function positiveInt(flag: string, text: string | undefined, def: number, max: number): number {
  if (text === undefined) return def;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    throw new UsageError(`${flag}: "${text}" is not a whole number from 1 to ${max}`);
  return n;
}

function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

interface Prepared {
  readonly manifest: SweepManifest;
  readonly dir: string | undefined;
}

/** The sweep the flags describe, checked through: every run's plan resolves. */
function prepare(values: Record<string, string | boolean | string[] | undefined>): Prepared {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  if (str('resume') !== undefined) {
    for (const flag of [
      'scenario',
      'policies',
      'x',
      'y',
      'engine',
      'seeds',
      'shard',
      'set',
      'report',
    ])
      if (values[flag] !== undefined)
        throw new UsageError(
          `--${flag}: --resume ${str('resume')} goes on with the sweep kept there; its --${flag} cannot change`,
        );
    const dir = str('resume') as string;
    const manifest = usage(() => readManifest(dir));
    if (!manifest) throw new UsageError(`--resume: "${dir}" holds no sweep (no sweep.json)`);
    return { manifest, dir };
  }
  const scenario = str('scenario');
  if (scenario === undefined)
    throw new UsageError('--scenario: required (e.g. --scenario partition-c)');
  if (str('x') === undefined)
    throw new UsageError('--x: required (e.g. --x flood.connections=0,16,64)');
  const engineText = str('engine') ?? DEFAULT_SWEEP_ENGINE;
  if (!(ENGINES as readonly string[]).includes(engineText))
    throw new UsageError(`--engine: "${engineText}" is not an engine (${ENGINES.join(', ')})`);
  const engine = engineText as Engine;
  if (!AVAILABLE_ENGINES.includes(engine))
    throw new UsageError(
      `--engine: "${engine}" is not available in this build (available: ${AVAILABLE_ENGINES.join(', ')})`,
    );
  const policies = (str('policies') ?? 'vanilla,memalloc').split(',').map((p) => p.trim());
  for (const p of policies)
    if (!findPolicy(p))
      throw new UsageError(
        `--policies: "${p}" is not a policy (${POLICIES.map((q) => q.name).join(', ')})`,
      );
  if (new Set(policies).size !== policies.length)
    throw new UsageError(`--policies: "${str('policies')}" names a policy twice`);
  const x = usage(() => parseAxis('--x', str('x') as string));
  const y = str('y') === undefined ? null : usage(() => parseAxis('--y', str('y') as string));
  if (y && y.knob === x.knob) throw new UsageError(`--y: "${y.knob}" is already the x axis`);
  const seeds = positiveInt('--seeds', str('seeds'), 1, 1000);
  const shard: Shard | null =
    str('shard') === undefined ? null : usage(() => parseShard(str('shard') as string));
  const sets = (values.set as string[] | undefined) ?? [];
  const loaded = usage(() => loadScenario(scenario));
  const spec: SweepSpec = { scenario, engine, policies, x, y, seeds, sets };
  // Every run's plan resolves (cross-knob rules too) before anything starts.
  const runs = gridRuns(spec);
  if (runs.length > 1_000_000) throw new UsageError(`--x/--y: ${runs.length} runs is too many`);
  for (const k of runs.filter((r) => r.seed === 1)) {
    const job = jobOf(spec, k);
    try {
      const p = planRun({ scenario, policy: k.policy, sets: job.sets, seed: 1 });
      // A real kernel takes only what it can be configured for: refused before the start.
      if (engine === 'uml') umlConfig(p);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const where = `${k.policy} at ${x.knob}=${showValue(k.x)}${y ? `, ${y.knob}=${showValue(k.y)}` : ''}`;
      throw new UsageError(`${err.message} (${where})`);
    }
  }
  const manifest: SweepManifest = { format: FORMAT, id: sweepId(spec, loaded), spec, shard };
  return { manifest, dir: str('report') };
}

function reportFiles(json: SweepJson, seeds: number, missingRuns: number) {
  const info = { seeds, missingRuns };
  return { html: sweepHtml(json, info), svg: heatmapSvg(json, info), csv: cellsCsv(json), json };
}

function makePool(engine: Engine, jobs: number, io: CliIo): Pool {
  if (io.sweepRunner) return workerPool(io.sweepRunner, jobs);
  // The real and uml engines' runs are processes that wait on the wall clock: this
  // thread drives them, jobs at a time. The simulation is CPU-bound: a worker thread
  // per job.
  if (engine !== 'sim' || jobs === 1) return inlinePool(runJob, jobs);
  return workerPool(new URL('../sweep/run-job.ts', import.meta.url).href, jobs);
}

async function runSweep(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {
    scenario: { type: 'string' },
    policies: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    engine: { type: 'string' },
    seeds: { type: 'string' },
    jobs: { type: 'string' },
    shard: { type: 'string' },
    refine: { type: 'string' },
    set: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    report: { type: 'string' },
    resume: { type: 'string' },
  });
  if (values.help) {
    writeLine(io.stdout, USAGE);
    return EXIT.ok;
  }
  // A uml run is a whole guest kernel and its swap server: one at a time unless asked.
  const defaultJobs = values.engine === 'uml' ? 1 : availableParallelism();
  const jobs = positiveInt('--jobs', values.jobs, defaultJobs, 1024);
  const refine =
    values.refine === undefined || values.refine === '0'
      ? 0
      : positiveInt('--refine', values.refine, 0, 30);
  const { manifest, dir } = prepare(values);
  const { spec, shard } = manifest;
  if (refine > 0 && shard)
    throw new UsageError(
      `--refine: a shard (${shard.index}/${shard.count}) does not hold the whole grid; refine after \`sweep merge --report DIR\` with --resume DIR --refine ${refine}`,
    );
  if (dir !== undefined)
    usage(() => openSweepDir(dir, manifest, values.resume ? '--resume' : '--report'));

  const view = progressView(io.stderr, io.stderrIsTTY ?? false, io.env, 'sweep ');
  const t0 = performance.now();
  let lastDrawn = -Infinity;
  let planned = 0;
  view.note(
    `${spec.scenario} under ${spec.policies.join(', ')} over ${spec.x.knob} (${spec.x.values.length})${spec.y ? ` by ${spec.y.knob} (${spec.y.values.length})` : ''}, ${spec.seeds} seed${spec.seeds === 1 ? '' : 's'}, engine ${spec.engine}, ${jobs} at a time${shard ? `, shard ${shard.index}/${shard.count}` : ''}`,
  );
  const pool = makePool(spec.engine, jobs, io);
  let outcome;
  try {
    outcome = await executeSweep({
      spec,
      shard,
      refine,
      pool,
      ...(dir !== undefined ? { dir } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onPlanned: (n) => (planned += n),
      onRun: (p) => {
        const now = performance.now();
        // A terminal redraws the bar at every run; a log gets a line a second at most.
        if (!io.stderrIsTTY && now - lastDrawn < 1000 && p.done !== planned) return;
        lastDrawn = now;
        const where = `${p.key.policy} ${spec.x.knob}=${showValue(p.key.x)}${spec.y ? ` ${spec.y.knob}=${showValue(p.key.y)}` : ''} seed ${p.key.seed}: ${p.outcome.verdict}`;
        view.line(progressText(p.done, planned, (now - t0) / 1000, where));
      },
    });
  } catch (err) {
    view.done();
    await pool.close();
    if (err instanceof ConfigError) throw new UsageError(err.message);
    const code = err instanceof SweepRunError ? ` (${err.code})` : '';
    writeLine(
      io.stderr,
      `swapnet sweep: a run failed, the sweep stopped: ${(err as Error).message}${code}${dir ? `; finished runs are kept in ${dir} (--resume ${dir})` : ''}`,
    );
    return EXIT.nodeFailed;
  }
  view.done();
  await pool.close();
  const seconds = (performance.now() - t0) / 1000;
  if (dir !== undefined) {
    const page = writeSweepReport(
      dir,
      reportFiles(outcome.json, spec.seeds, outcome.missing.length),
    );
    writeLine(io.stderr, `report: ${page}`);
  }
  writeLine(
    io.stderr,
    `${outcome.ran} runs in ${seconds.toFixed(1)} s${outcome.ran > 0 ? ` (${(outcome.ran / seconds).toFixed(2)} a second)` : ''}`,
  );
  if (values.json) writeLine(io.stdout, JSON.stringify(outcome.json));
  else writeLine(io.stdout, sweepText(outcome.json));
  if (outcome.interrupted) {
    writeLine(
      io.stderr,
      `swapnet sweep: interrupted; ${outcome.missing.length} runs not finished${dir ? `, the finished ones kept: swapnet sweep --resume ${dir}` : ' (and not kept: give --report DIR to keep them)'}`,
    );
    return 130;
  }
  return EXIT.ok;
}

async function runMerge(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    { json: { type: 'boolean' }, report: { type: 'string' } },
    true,
  );
  if (values.help) {
    writeLine(io.stdout, USAGE);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('merge: name the sweep folders to join');
  const merged = usage(() => mergeSweeps(positionals));
  if (values.report !== undefined) {
    const out = values.report;
    usage(() => openSweepDir(out, merged.manifest, '--report'));
    for (const [id, o] of merged.outcomes) {
      const [policy, x, y, seed] = JSON.parse(id) as [string, never, never, number];
      writeRun(out, { policy, x, y, seed }, o);
    }
    const page = writeSweepReport(out, reportFiles(merged.json, merged.manifest.spec.seeds, 0));
    writeLine(io.stderr, `report: ${page}`);
  }
  writeLine(io.stderr, `merged ${positionals.length} folders: ${merged.json.cells.length} cells`);
  if (values.json) writeLine(io.stdout, JSON.stringify(merged.json));
  else writeLine(io.stdout, sweepText(merged.json));
  return EXIT.ok;
}

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'where each policy stops working: verdicts over a grid of knob values',
  usage: USAGE,
  run(argv, io) {
    return argv[0] === 'merge' ? runMerge(argv.slice(1), io) : runSweep(argv, io);
  },
};
