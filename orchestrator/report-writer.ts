// Reports on disk: each run's record as JSON (result, timeline, events, faults, knobs:
// the raw data) and the self-contained HTML beside it, with uPlot read from node_modules
// and the page script from this folder at writing time, so a report opens from file://
// with no network; and records read back (validated) to rebuild a report or a picture.
import {
  accessSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../reserve/errors.ts';
import { POLICIES } from './policies.ts';
import { compareReportHtml, runReportHtml, type NamedRecord, type ReportAssets } from './report.ts';
import type { RunRecord } from './runner.ts';
import { ENGINES } from './engine.ts';
import { VERDICTS } from './verdict.ts';

const require = createRequire(import.meta.url);

let cached: ReportAssets | undefined;

/** uPlot's IIFE build and styles, and the page script; read once per process. */
export function reportAssets(): ReportAssets {
  cached ??= {
    uplotJs: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    uplotCss: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    pageJs: readFileSync(new URL('./report-page.js', import.meta.url), 'utf8'),
  };
  return cached;
}

/** Writes `<name>.json` (the run's record) into `dir`; returns its path. */
export function writeRecord(dir: string, run: NamedRecord): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${run.name}.json`);
  writeFileSync(path, JSON.stringify(run.record, null, 1));
  return path;
}

/** Writes one run's record and its report `<name>.html` into `dir`; returns the HTML's path. */
export function writeRunReport(dir: string, run: NamedRecord): string {
  writeRecord(dir, run);
  const path = join(dir, `${run.name}.html`);
  writeFileSync(path, runReportHtml(run, reportAssets()));
  return path;
}

/** Writes the comparison `index.html` of `runs` into `dir`; returns its path. */
export function writeCompareHtml(dir: string, runs: readonly NamedRecord[]): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'index.html');
  writeFileSync(path, compareReportHtml(runs, reportAssets()));
  return path;
}

/**
 * Creates `dir` if needed and checks it can be written, before a run spends its time: a
 * ConfigError naming --report and the reason otherwise.
 */
export function ensureReportDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(
      '--report',
      `cannot write into "${dir}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

const num = z.number();
const counts = z.record(z.string(), num);

/** What a report reads from a record file; other fields are kept as they are. */
const RecordSchema = z.object({
  result: z.object({
    // Records written before the simulation engine existed are the real engine's.
    engine: z.enum(ENGINES).default('real'),
    scenario: z.string(),
    policy: z.string(),
    era: z.string(),
    seed: num,
    verdict: z.enum(VERDICTS),
    writeout: z.object({ issued: num, completed: num, pendingAtEnd: num }),
    recoverySeconds: num.nullable(),
    rx: z.object({
      delivered: num,
      tossedPfmemalloc: num,
      droppedNoMem: num,
      droppedProtoMem: num,
    }),
    reserve: z.object({ sizePages: num, peakUsedPages: num }),
    integrity: z.object({ pagesVerified: num, mismatches: num }),
    oomKills: num,
    durationSeconds: num,
  }),
  reason: z.string(),
  timeline: z.array(
    z.object({
      t: num,
      pages: counts,
      watermarks: z.object({ min: num, low: num, high: num }),
      reserveUsed: num,
      issued: num,
      completed: num,
      pending: num,
      drops: counts,
      tcpMem: num,
      tcpMemLimits: z.tuple([num, num, num]),
    }),
  ),
  events: z.array(z.object({ t: num, what: z.string() })),
  faults: z.array(
    z.object({ target: z.enum(['a', 'b', 'c']), mode: z.string(), from: num, to: num.nullable() }),
  ),
  knobs: z.record(z.string(), z.unknown()),
  stallWindowSeconds: num,
});

/** Parses one record file; a ConfigError naming the file and the field otherwise. */
export function parseRecord(path: string, text: string): RunRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`);
  }
  const r = RecordSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue ? issue.path.map(String).join('.') : '';
    throw new ConfigError(
      `${path}: ${field || '(top level)'}`,
      `not a swapnet run record (${issue?.message ?? 'invalid'})`,
    );
  }
  return raw as RunRecord;
}

/**
 * The records in `dir` (every `*.json`), ordered by scenario, then policy as
 * `swapnet list` orders them; a ConfigError naming the file when one is not a record.
 */
export function readRecords(dir: string): NamedRecord[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch (err) {
    throw new ConfigError(
      dir,
      `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const order = (policy: string): number => {
    const i = POLICIES.findIndex((p) => p.name === policy);
    return i < 0 ? POLICIES.length : i;
  };
  return files
    .map((f) => {
      const path = join(dir, f);
      return { name: basename(f, '.json'), record: parseRecord(path, readFileSync(path, 'utf8')) };
    })
    .sort(
      (a, b) =>
        a.record.result.scenario.localeCompare(b.record.result.scenario) ||
        order(a.record.result.policy) - order(b.record.result.policy) ||
        a.name.localeCompare(b.name),
    );
}
