// `swapnet report DIR`: rebuilds the HTML report from the run records a `--report DIR`
// left there, and with --svg draws the runs side by side as a static SVG picture (the
// README's picture comes from the demo's records this way). Reads and writes files only.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT, parseFlags, UsageError, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { runView, type ChartId } from '../report-charts.ts';
import { comparisonSvg, SVG_DEFAULT_CHARTS } from '../report-svg.ts';
import { readRecords, writeCompareHtml } from '../report-writer.ts';

const CHART_IDS: readonly ChartId[] = [
  'memory',
  'free',
  'reserve',
  'writeout',
  'drops',
  'tossed',
  'tcpmem',
];

const USAGE = `usage: swapnet report DIR [--svg FILE] [--charts LIST]

Rebuilds the HTML report of the run records in DIR (the *.json files that run, compare
and demo write with --report) as DIR/index.html: the policy x scenario matrix and the
runs side by side on shared axes. Needs no topology and no network.

  --svg FILE      also draw the runs side by side as a static SVG picture into FILE
  --charts LIST   the picture's charts, in order (default ${SVG_DEFAULT_CHARTS.join(',')};
                  any of ${CHART_IDS.join(', ')})`;

function chartsOf(text: string | undefined): readonly ChartId[] {
  if (text === undefined) return SVG_DEFAULT_CHARTS;
  const ids = text.split(',').filter(Boolean);
  const bad = ids.find((id) => !(CHART_IDS as readonly string[]).includes(id));
  if (bad !== undefined || ids.length === 0)
    throw new UsageError(`--charts: "${bad ?? text}" is not a chart (${CHART_IDS.join(', ')})`);
  return ids as ChartId[];
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'rebuild the HTML report (and an SVG picture) from the run records in a folder',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseFlags(
      argv,
      { svg: { type: 'string' }, charts: { type: 'string' } },
      true,
    );
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    if (positionals.length !== 1)
      throw new UsageError(
        `expected one folder of run records, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `"${p}"`).join(' ')}`,
      );
    const dir = positionals[0] as string;
    const charts = chartsOf(values.charts);
    const runs = readRecords(dir);
    if (runs.length === 0) throw new UsageError(`${dir}: no run records (*.json) to report on`);
    writeLine(io.stdout, `report: ${writeCompareHtml(dir, runs)}`);
    if (values.svg !== undefined) {
      const svg = comparisonSvg(
        runs.map((r) => runView(r.name, r.record)),
        { charts },
      );
      mkdirSync(dirname(values.svg) || '.', { recursive: true });
      writeFileSync(values.svg, svg);
      writeLine(io.stdout, `picture: ${values.svg}`);
    }
    return EXIT.ok;
  },
};
