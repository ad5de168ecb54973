// A sweep's folder (`--report DIR`): sweep.json says which sweep it holds (its spec, id
// and shard), runs/ holds one file per finished run, written the moment the run ends,
// so Ctrl-C, a crash or a killed batch job keep every finished run and `--resume` runs
// only the rest. Every file is written under a temporary name and renamed into place:
// a reader never sees half a file. `sweep merge` reads several folders of one sweep.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../reserve/errors.ts';
import { VERDICTS } from '../verdict.ts';
import {
  ENGINES,
  runId,
  type RunKey,
  type RunOutcome,
  type Shard,
  type SweepSpec,
} from './spec.ts';

export const MANIFEST = 'sweep.json';
export const FORMAT = 'swapnet-sweep/1';

export interface SweepManifest {
  readonly format: typeof FORMAT;
  readonly id: string;
  readonly spec: SweepSpec;
  /** The slice this folder runs (null: the whole grid). */
  readonly shard: Shard | null;
}

/** Writes `text` to `path` through a temporary file in the same folder and a rename. */
export function writeAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

const value: z.ZodType<unknown> = z.union([
  z.number(),
  z.string(),
  z.boolean(),
  z.null(),
  z.array(z.number()),
]);
const axis = z.object({ knob: z.string(), values: z.array(value), log: z.boolean() });
const ManifestSchema = z.object({
  format: z.literal(FORMAT),
  id: z.string(),
  spec: z.object({
    scenario: z.string(),
    engine: z.enum(ENGINES),
    policies: z.array(z.string()).min(1),
    x: axis,
    y: axis.nullable(),
    seeds: z.number().int().min(1),
    sets: z.array(z.string()),
  }),
  shard: z.object({ index: z.number().int(), count: z.number().int() }).nullable(),
});

const RunFileSchema = z.object({
  key: z.object({ policy: z.string(), x: value, y: value, seed: z.number().int() }),
  outcome: z.object({
    verdict: z.enum(VERDICTS),
    recoverySeconds: z.number().nullable(),
    tossed: z.number(),
    tossedByClass: z.record(z.string(), z.number()),
    heldBackPages: z.number(),
    result: z.record(z.string(), z.unknown()),
  }),
});

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      path,
      `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`);
  }
}

/** The manifest of the sweep in `dir`; null when `dir` holds none. ConfigError when it is not one. */
export function readManifest(dir: string): SweepManifest | null {
  const path = join(dir, MANIFEST);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return null;
  }
  if (!entries.includes(MANIFEST)) return null;
  const r = ManifestSchema.safeParse(readJson(path));
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(
      path,
      `not a swapnet sweep (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`,
    );
  }
  return r.data as SweepManifest;
}

/** The file a run is kept in (a digest of its key: values may hold any character). */
function runFile(dir: string, key: RunKey): string {
  const digest = createHash('sha256').update(runId(key)).digest('hex').slice(0, 20);
  return join(dir, 'runs', `${digest}.json`);
}

/**
 * Makes `dir` hold `manifest`: creates it, or accepts it when it already holds the same
 * sweep (its finished runs are kept: a resume). A ConfigError naming `flag` and `dir`
 * when it holds another sweep or another slice.
 */
export function openSweepDir(dir: string, manifest: SweepManifest, flag: string): void {
  const existing = readManifest(dir);
  if (existing) {
    if (existing.id !== manifest.id)
      throw new ConfigError(
        flag,
        `"${dir}" holds another sweep (id ${existing.id}, this one is ${manifest.id}): use another folder, or --resume ${dir} to go on with that one`,
      );
    const a = existing.shard ? `${existing.shard.index}/${existing.shard.count}` : 'all';
    const b = manifest.shard ? `${manifest.shard.index}/${manifest.shard.count}` : 'all';
    if (a !== b) throw new ConfigError(flag, `"${dir}" holds shard ${a} of this sweep, not ${b}`);
    mkdirSync(join(dir, 'runs'), { recursive: true });
    return;
  }
  try {
    mkdirSync(join(dir, 'runs'), { recursive: true });
  } catch (err) {
    throw new ConfigError(
      flag,
      `cannot write into "${dir}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  writeAtomic(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
}

/** Keeps one finished run in `dir`. */
export function writeRun(dir: string, key: RunKey, outcome: RunOutcome): void {
  writeAtomic(runFile(dir, key), JSON.stringify({ key, outcome }));
}

/** The finished runs in `dir`, by runId. ConfigError naming the file when one is not a run. */
export function readRuns(dir: string): Map<string, RunOutcome> {
  const out = new Map<string, RunOutcome>();
  let files: string[];
  try {
    files = readdirSync(join(dir, 'runs')).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
  } catch {
    return out;
  }
  for (const f of files.sort()) {
    const path = join(dir, 'runs', f);
    const r = RunFileSchema.safeParse(readJson(path));
    if (!r.success) throw new ConfigError(path, 'not a swapnet sweep run');
    const key = r.data.key as RunKey;
    out.set(runId(key), r.data.outcome as unknown as RunOutcome);
  }
  return out;
}

/** Writes the report files of a sweep into `dir` (each whole or not at all); returns the page's path. */
export function writeSweepReport(
  dir: string,
  files: { html: string; svg: string; csv: string; json: unknown },
): string {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'cells.json'), `${JSON.stringify(files.json, null, 1)}\n`);
  writeAtomic(join(dir, 'cells.csv'), files.csv);
  writeAtomic(join(dir, 'heatmap.svg'), files.svg);
  const page = join(dir, 'index.html');
  writeAtomic(page, files.html);
  return page;
}
