// `swapnet demo` (what `npm start` runs): the canonical demonstration with no outside
// services. partition-c under vanilla, then under memalloc, each with its live progress
// line, then the two verdicts side by side and where the records were written.
import { join } from 'node:path';
import { EXIT, parseFlags, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { progressView } from '../progress-view.ts';
import { planRun } from '../run-plan.ts';
import { runPlan, type RunRecord } from '../runner.ts';
import { NodeFailedError } from '../topology.ts';
import { ensureReportDir, writeCompareHtml, writeRecord } from '../report-writer.ts';
import { matrix } from '../matrix.ts';
import { recordName, seedOf } from './run.ts';

const USAGE = `usage: swapnet demo [--report DIR] [--seed N]

The canonical demonstration: the partition-c scenario (C stalls for 10 s while B floods
A) under vanilla, then under memalloc, each against its own real topology, with a live
progress line; then the verdicts side by side. Takes about 90 s. Writes the records
and the HTML report (DIR/index.html) to DIR (default: reports/demo).`;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the canonical demonstration: partition-c under vanilla and memalloc (npm start)',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, { report: { type: 'string' }, seed: { type: 'string' } });
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    const dir = values.report ?? join('reports', 'demo');
    const seed = seedOf(values.seed);
    ensureReportDir(dir);
    writeLine(
      io.stdout,
      [
        'swapnet: the networked-swap deadlock, live.',
        'Machine A swaps to C over TCP and serves B, which floods it. At 12 s C stalls; at 22 s it comes back.',
        "Under vanilla, B's data takes A's free memory down to GFP_ATOMIC's floor, so C's replies can only come",
        'from the reserve, and an unmarked swap socket tosses them: writeout never completes. Under memalloc the',
        "swap socket is SOCK_MEMALLOC: B's reserve skbs are tossed at demux, C's are accepted, A recovers.",
        '',
      ].join('\n'),
    );
    const records: RunRecord[] = [];
    for (const policy of ['vanilla', 'memalloc']) {
      const plan = planRun({ scenario: 'partition-c', policy, seed });
      const view = progressView(io.stdout, io.stderrIsTTY ?? false, io.env, `${policy.padEnd(8)} `);
      try {
        const record = await runPlan(plan, {
          onProgress: (l) => view.line(l),
          ...(io.signal ? { signal: io.signal } : {}),
        });
        view.done();
        view.note(`verdict: ${record.result.verdict} (${record.reason})`);
        records.push(record);
        writeRecord(dir, { name: recordName(record), record });
      } catch (err) {
        view.done();
        if (err instanceof NodeFailedError) {
          writeLine(io.stderr, `swapnet demo: ${err.message}`);
          return EXIT.nodeFailed;
        }
        if (io.signal?.aborted) {
          writeLine(io.stderr, 'swapnet demo: interrupted; every process stopped');
          return 130;
        }
        throw err;
      }
    }
    const html = writeCompareHtml(
      dir,
      records.map((record) => ({ name: recordName(record), record })),
    );
    writeLine(
      io.stdout,
      `\n${matrix(
        records.map((r) => r.result),
        records,
      )}\n\nrecords: ${dir}/\nreport: ${html}`,
    );
    return EXIT.ok;
  },
};
