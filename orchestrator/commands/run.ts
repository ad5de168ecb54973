// `swapnet run`: one scenario under one policy and era, on an engine (real processes or
// the simulation), ending in a verdict; and `swapnet compare`: a matrix of them. Exit codes (DESIGN.md section
// 9): 0 done (and matched --expect), 1 the verdict differs from --expect, 2 bad usage or
// an invalid scenario, 3 a node failed.
import { ConfigError } from '../../reserve/errors.ts';
import { EXIT, parseFlags, UsageError, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { progressView } from '../progress-view.ts';
import { planRun, type RunPlan } from '../run-plan.ts';
import { runPlan, type RunRecord, type RunResult } from '../runner.ts';
import { NodeFailedError } from '../topology.ts';
import { EngineError, parseEngine, type EngineName } from '../engine.ts';
import { umlConfig } from '../engines/uml.ts';
import { umlUnavailable } from '../uml/rig.ts';
import { VERDICTS, type Verdict } from '../verdict.ts';
import { matrix } from '../matrix.ts';
import {
  ensureReportDir,
  writeCompareHtml,
  writeRecord,
  writeRunReport,
} from '../report-writer.ts';

const RUN_USAGE = `usage: swapnet run [--engine real|sim|uml] [--scenario NAME|FILE] [--policy NAME] [--era ERA]
                   [--set KEY=VALUE]... [--seed N] [--json] [--report DIR] [--expect VERDICT]

Runs one scenario (default partition-c) under one policy (default vanilla) and prints
the verdict: completed, deadlock, livelock, oom or data-loss. A progress line shows
every second of the run's time on stderr.

  --engine real|sim|uml  real (default): three processes over real TCP on 127.0.0.1,
                         in wall time; sim: the same machines in this process on a
                         virtual clock, seeded and deterministic (partition-c's 30 s
                         in about 2 s); uml: machine A is a real Linux 6.1 kernel
                         (User-Mode Linux) swapping over NBD to C, B flooding its
                         service: vanilla, memalloc and min-free-20 only; Linux, root
                         (needs Debian's user-mode-linux, nbd-client, kmod, iproute2:
                         test/setup/ensure-uml.sh installs them)
  --scenario NAME|FILE   a built-in (swapnet list) or a .json/.yaml scenario file
  --policy NAME          a policy (swapnet list)
  --era ERA              2.6, 3.6 or modern (default: the scenario's, else modern)
  --set KEY=VALUE        one knob, over the scenario and policy (repeatable)
  --seed N               seed for every random choice (default 1)
  --json                 print the result as one JSON object on stdout
  --report DIR           write the run's record (DIR/<scenario>-<policy>.json) and its
                         self-contained HTML report (DIR/<scenario>-<policy>.html)
  --expect VERDICT       exit 1 if the verdict differs`;

const COMPARE_USAGE = `usage: swapnet compare [--engine real|sim|uml] [--scenarios A,B] [--policies X,Y] [--era ERA]
                       [--set KEY=VALUE]... [--seed N] [--json] [--report DIR]

Runs every scenario under every policy (default: partition-c and quiet-partition under
vanilla and memalloc) and prints the matrix: verdict, recovery time, packets tossed and
dropped, reserve peak, and what the policy costs in memory.

  --engine real|sim|uml  as for swapnet run (default real)
  --report DIR   write each run's record (DIR/<scenario>-<policy>.json) and the HTML
                 report of the comparison (DIR/index.html: the matrix, the runs side
                 by side)`;

const common = {
  engine: { type: 'string' },
  era: { type: 'string' },
  set: { type: 'string', multiple: true },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  report: { type: 'string' },
} as const;

/** Parses --seed (default 1); a UsageError naming --seed otherwise. */
export function seedOf(text: string | undefined): number {
  if (text === undefined) return 1;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff)
    throw new UsageError(`--seed: "${text}" is not a whole number from 0 to 4294967295`);
  return n;
}

function plan(req: Parameters<typeof planRun>[0], engine: EngineName): RunPlan {
  try {
    const p = planRun(req);
    // A plan a real kernel cannot be configured for is refused before anything starts.
    if (engine === 'uml') {
      umlConfig(p);
      const why = umlUnavailable();
      if (why) throw new ConfigError('--engine', `uml: ${why}`);
    }
    return p;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** --engine, or a UsageError naming the flag and the engines there are. */
function engineOf(text: string | undefined): EngineName {
  try {
    return parseEngine(text);
  } catch (err) {
    if (err instanceof EngineError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * The one command that replays a simulated run exactly: every knob that differs from
 * the plan's scenario, era and policy is already in them, so scenario, policy, era, seed
 * and the --set values given are enough.
 */
export function replayCommand(p: RunPlan, sets: readonly string[]): string {
  return [
    'swapnet run --engine sim',
    `--scenario ${p.scenario.name}`,
    `--policy ${p.policy.name}`,
    `--era ${p.era}`,
    `--seed ${p.seed}`,
    ...sets.map((kv) => `--set ${kv}`),
  ].join(' ');
}

/** Runs one plan with a progress view on stderr; node failures become exit 3 upstream. */
async function execute(
  p: RunPlan,
  io: CliIo,
  label: string,
  engine: EngineName,
): Promise<RunRecord> {
  const view = progressView(io.stderr, io.stderrIsTTY ?? false, io.env, label ? `[${label}] ` : '');
  view.note(
    `running ${p.scenario.name} under ${p.policy.name} (engine ${engine}, era ${p.era}, seed ${p.seed})`,
  );
  try {
    const record = await runPlan(p, {
      engine,
      onProgress: (l) => view.line(l),
      ...(io.signal ? { signal: io.signal } : {}),
      onNodeLog: (role, entry) => {
        if (
          typeof entry.msg === 'string' &&
          /oom-kill|integrity-error|kswapd-gave-up/.test(entry.msg)
        )
          view.note(`node ${role}: ${entry.msg}`);
      },
    });
    // A starved real run is not the scenario: say so rather than let it pass for one.
    for (const w of record.rates?.warnings ?? [])
      view.note(
        `warning: could not keep up in the steady part: ${w}` +
          (engine === 'real' ? ' (a busy machine? compare with --engine sim)' : ''),
      );
    return record;
  } finally {
    view.done();
  }
}

/** The file-name stem of a run's record and report. */
export function recordName(record: RunRecord): string {
  return `${record.result.scenario}-${record.result.policy}`;
}

function human(r: RunResult, reason: string): string {
  return [
    `verdict: ${r.verdict}  (${reason})`,
    `  writeout: ${r.writeout.issued} issued, ${r.writeout.completed} completed, ${r.writeout.pendingAtEnd} pending at the end` +
      (r.recoverySeconds !== null ? `; recovered ${r.recoverySeconds} s after the heal` : ''),
    `  receive: ${r.rx.delivered} delivered, ${r.rx.tossedPfmemalloc} tossed (pfmemalloc), ${r.rx.droppedNoMem} dropped (nomem), ${r.rx.droppedProtoMem} dropped (proto_mem)`,
    `  reserve: ${r.reserve.sizePages} pages, peak use ${r.reserve.peakUsedPages}`,
    `  integrity: ${r.integrity.pagesVerified} pages verified, ${r.integrity.mismatches} mismatches; OOM kills: ${r.oomKills}; ${r.durationSeconds} s`,
  ].join('\n');
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run a scenario (real processes or the simulation) and print the verdict',
  usage: RUN_USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, {
      ...common,
      scenario: { type: 'string' },
      policy: { type: 'string' },
      expect: { type: 'string' },
    });
    if (values.help) {
      writeLine(io.stdout, RUN_USAGE);
      return EXIT.ok;
    }
    const engine = engineOf(values.engine);
    if (values.expect !== undefined && !(VERDICTS as readonly string[]).includes(values.expect)) {
      throw new UsageError(
        `--expect: "${values.expect}" is not a verdict (${VERDICTS.join(', ')})`,
      );
    }
    const p = plan(
      {
        scenario: values.scenario ?? 'partition-c',
        policy: values.policy ?? 'vanilla',
        era: values.era,
        sets: values.set ?? [],
        seed: seedOf(values.seed),
      },
      engine,
    );
    if (values.report !== undefined) ensureReportDir(values.report);
    let record: RunRecord;
    try {
      record = await execute(p, io, '', engine);
    } catch (err) {
      if (err instanceof NodeFailedError) {
        writeLine(
          io.stderr,
          `swapnet run: ${err.message}\n${err.stderrTail.split('\n').slice(-10).join('\n')}`,
        );
        return EXIT.nodeFailed;
      }
      if (io.signal?.aborted) {
        writeLine(io.stderr, 'swapnet run: interrupted; every process stopped');
        return 130;
      }
      throw err;
    }
    if (values.report) {
      const html = writeRunReport(values.report, { name: recordName(record), record });
      writeLine(io.stderr, `report: ${html}`);
    }
    if (values.json) writeLine(io.stdout, JSON.stringify(record.result));
    else writeLine(io.stdout, human(record.result, record.reason));
    const mismatch =
      values.expect !== undefined && record.result.verdict !== (values.expect as Verdict);
    // A failing or surprising simulated run says how to replay it exactly.
    if (engine === 'sim' && (mismatch || record.result.verdict === 'data-loss'))
      writeLine(io.stderr, `replay: ${replayCommand(p, values.set ?? [])}`);
    if (mismatch) {
      writeLine(io.stderr, `swapnet run: expected ${values.expect}, got ${record.result.verdict}`);
      return EXIT.verdictMismatch;
    }
    return EXIT.ok;
  },
};

export const compareCommand: Command = {
  name: 'compare',
  summary: 'run scenarios under policies and print the matrix',
  usage: COMPARE_USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, {
      ...common,
      scenarios: { type: 'string' },
      policies: { type: 'string' },
    });
    if (values.help) {
      writeLine(io.stdout, COMPARE_USAGE);
      return EXIT.ok;
    }
    const engine = engineOf(values.engine);
    const scenarios = (values.scenarios ?? 'partition-c,quiet-partition')
      .split(',')
      .filter(Boolean);
    const policies = (values.policies ?? 'vanilla,memalloc').split(',').filter(Boolean);
    const seed = seedOf(values.seed);
    const plans = scenarios.flatMap((scenario) =>
      policies.map((policy) =>
        plan({ scenario, policy, era: values.era, sets: values.set ?? [], seed }, engine),
      ),
    );
    if (values.report !== undefined) ensureReportDir(values.report);
    const rows: RunResult[] = [];
    const records: RunRecord[] = [];
    for (const [i, p] of plans.entries()) {
      try {
        const record = await execute(p, io, `${i + 1}/${plans.length}`, engine);
        rows.push(record.result);
        records.push(record);
        // Each record is written as soon as its run ends: an interrupted compare keeps them.
        if (values.report) writeRecord(values.report, { name: recordName(record), record });
      } catch (err) {
        if (err instanceof NodeFailedError) {
          writeLine(io.stderr, `swapnet compare: ${err.message}`);
          return EXIT.nodeFailed;
        }
        if (io.signal?.aborted) {
          writeLine(io.stderr, 'swapnet compare: interrupted; every process stopped');
          return 130;
        }
        throw err;
      }
    }
    if (values.report) {
      const html = writeCompareHtml(
        values.report,
        records.map((record) => ({ name: recordName(record), record })),
      );
      writeLine(io.stderr, `report: ${html}`);
    }
    if (values.json) {
      writeLine(io.stdout, JSON.stringify({ rows }));
      return EXIT.ok;
    }
    writeLine(io.stdout, matrix(rows, records));
    return EXIT.ok;
  },
};
