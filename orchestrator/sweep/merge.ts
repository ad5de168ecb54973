// `swapnet sweep merge DIR...`: the runs of several folders of one sweep (shards, or
// runs resumed elsewhere) joined into the whole grid, exactly what one run gives: the
// same runs, so the same cells. Folders of different sweeps (another id: another spec
// or scenario) are refused, naming the folder; so is a grid with runs missing.
import { ConfigError } from '../../reserve/errors.ts';
import { gridCells, sweepJson, type SweepJson } from './cells.ts';
import { gridRuns, type RunOutcome } from './spec.ts';
import { readManifest, readRuns, type SweepManifest } from './store.ts';

export interface Merged {
  readonly manifest: SweepManifest;
  readonly outcomes: Map<string, RunOutcome>;
  readonly json: Omit<SweepJson, 'boundaries'>;
}

/** Joins the folders; ConfigError naming the folder or the missing runs. */
export function mergeSweeps(dirs: readonly string[]): Merged {
  if (dirs.length === 0) throw new ConfigError('merge', 'name at least one sweep folder');
  let first: { dir: string; manifest: SweepManifest } | undefined;
  const outcomes = new Map<string, RunOutcome>();
  for (const dir of dirs) {
    const manifest = readManifest(dir);
    if (!manifest) throw new ConfigError(dir, 'holds no sweep (no sweep.json)');
    if (first && manifest.id !== first.manifest.id)
      throw new ConfigError(
        dir,
        `is another sweep (id ${manifest.id}) than ${first.dir} (id ${first.manifest.id}): only slices of one sweep merge`,
      );
    first ??= { dir, manifest };
    for (const [id, o] of readRuns(dir)) outcomes.set(id, o);
  }
  const manifest = { ...(first as { manifest: SweepManifest }).manifest, shard: null };
  const { spec } = manifest;
  // Probes of --refine (runs off the grid) stay in `outcomes`: a refine of the merged folder reuses them.
  const { cells, missing } = gridCells(spec, outcomes);
  if (missing.length > 0) {
    const m = missing[0];
    const shards = dirs.length;
    throw new ConfigError(
      'merge',
      `${missing.length} of ${gridRuns(spec).length} runs missing (first: ${m?.policy} x=${JSON.stringify(m?.x)} y=${JSON.stringify(m?.y)} seed ${m?.seed}); ${shards} folder${shards === 1 ? '' : 's'} given: is a shard missing or unfinished?`,
    );
  }
  return { manifest, outcomes, json: sweepJson(spec, cells) };
}
