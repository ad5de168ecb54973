// The sweep's logic on a fake engine (test/helpers/fake-sweep-runner.ts: a pure function
// of the knobs and the seed): the grid, per-cell verdict counts over seeds, shards that
// merge into exactly the whole sweep, resume, Ctrl-C keeping what finished, bisection,
// and the same results from worker threads as from this thread.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../reserve/errors.ts';
import { parseAxis } from '../../orchestrator/sweep/axis.ts';
import { cellOf, isSplit } from '../../orchestrator/sweep/cells.ts';
import { mergeSweeps } from '../../orchestrator/sweep/merge.ts';
import { inlinePool, workerPool, type JobRunner } from '../../orchestrator/sweep/pool.ts';
import {
  gridRuns,
  parseShard,
  shardRuns,
  sweepId,
  type RunOutcome,
  type Shard,
  type SweepSpec,
} from '../../orchestrator/sweep/spec.ts';
import { FORMAT, openSweepDir, readRuns } from '../../orchestrator/sweep/store.ts';
import { executeSweep } from '../../orchestrator/sweep/sweep.ts';
import { FAKE_THRESHOLD, fakeOutcome, runJob } from '../helpers/fake-sweep-runner.ts';

const MUST_SHOW: SweepSpec = {
  scenario: 'partition-c',
  engine: 'real',
  policies: ['vanilla', 'memalloc'],
  x: parseAxis('--x', 'flood.connections=0,16,64'),
  y: parseAxis('--y', 'fault.durationSeconds=2,8'),
  seeds: 1,
  sets: [],
};

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'swapnet-sweep-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function manifest(spec: SweepSpec, shard: Shard | null) {
  return { format: FORMAT, id: sweepId(spec, 'partition-c'), spec, shard } as const;
}

async function sweep(spec: SweepSpec, opts: { shard?: Shard; dir?: string; refine?: number } = {}) {
  const pool = inlinePool(runJob, 3);
  if (opts.dir) openSweepDir(opts.dir, manifest(spec, opts.shard ?? null), '--report');
  try {
    return await executeSweep({
      spec,
      shard: opts.shard ?? null,
      refine: opts.refine ?? 0,
      pool,
      ...(opts.dir ? { dir: opts.dir } : {}),
    });
  } finally {
    await pool.close();
  }
}

const outcome = (
  verdict: RunOutcome['verdict'],
  recovery: number | null,
  tossed: number,
): RunOutcome =>
  ({
    verdict,
    recoverySeconds: recovery,
    tossed,
    tossedByClass: {},
    heldBackPages: 7,
    result: {},
  }) as RunOutcome;

describe('sweep grid', () => {
  it('runs every policy at every point: 2 x 3 x 2 cells, policy, then y, then x', async () => {
    const r = await sweep(MUST_SHOW);
    expect(r.json.cells).toHaveLength(12);
    expect(r.json.cells.map((c) => [c.policy, c.y, c.x])).toEqual(
      ['vanilla', 'memalloc'].flatMap((p) =>
        [2, 8].flatMap((y) => [0, 16, 64].map((x) => [p, y, x])),
      ),
    );
    expect(Object.keys(r.json)).toEqual(['scenario', 'engine', 'policies', 'x', 'y', 'cells']);
    expect(r.json.x).toEqual({ knob: 'flood.connections', values: [0, 16, 64] });
    expect(Object.keys(r.json.cells[0] ?? {})).toEqual([
      'policy',
      'x',
      'y',
      'verdicts',
      'verdict',
      'recoverySeconds',
      'tossed',
      'heldBackPages',
    ]);
    const at = (p: string, x: number, y: number) =>
      r.json.cells.find((c) => c.policy === p && c.x === x && c.y === y)?.verdict;
    // The fake wedges past its threshold without a memalloc swap socket: 64 x 8 s.
    expect(at('vanilla', 64, 8)).toBe('deadlock');
    expect(at('vanilla', 0, 8)).toBe('completed');
    expect(
      r.json.cells.filter((c) => c.policy === 'memalloc').every((c) => c.verdict === 'completed'),
    ).toBe(true);
  });

  it('without --y, y is null in the sweep and in every cell', async () => {
    const r = await sweep({ ...MUST_SHOW, y: null });
    expect(r.json.y).toBeNull();
    expect(r.json.cells.map((c) => c.y)).toEqual([null, null, null, null, null, null]);
  });

  it('counts verdicts over seeds: a cell near the threshold splits', async () => {
    // Backlog 32 x 8 = 256, the fake's threshold +-12% by seed.
    const spec = {
      ...MUST_SHOW,
      policies: ['vanilla'],
      x: parseAxis('--x', 'flood.connections=8,32,64'),
      y: null,
      seeds: 8,
    };
    expect(32 * 8).toBe(FAKE_THRESHOLD);
    const r = await sweep(spec);
    const [low, mid, high] = r.json.cells;
    expect(low?.verdicts).toEqual({ completed: 8 });
    expect(high?.verdicts).toEqual({ deadlock: 8 });
    expect(mid && isSplit(mid)).toBe(true);
    expect((mid?.verdicts.completed ?? 0) + (mid?.verdicts.deadlock ?? 0)).toBe(8);
  });
});

describe('cellOf', () => {
  it('takes the most frequent verdict, the median recovery of those that recovered, the mean tossed', () => {
    const c = cellOf('p', 1, null, [
      outcome('completed', 3, 10),
      outcome('deadlock', null, 20),
      outcome('completed', 1, 30),
    ]);
    expect(c).toMatchObject({
      verdicts: { completed: 2, deadlock: 1 },
      verdict: 'completed',
      recoverySeconds: 2,
      tossed: 20,
      heldBackPages: 7,
    });
  });

  it('breaks a tie towards the verdict listed first, and has no recovery when none recovered', () => {
    const c = cellOf('p', 1, null, [outcome('deadlock', null, 0), outcome('completed', 4, 0)]);
    expect(c.verdict).toBe('completed');
    expect(cellOf('p', 1, null, [outcome('deadlock', null, 0)]).recoverySeconds).toBeNull();
  });
});

describe('shards', () => {
  it('parse I/N and refuse anything else, naming --shard', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['3/2', '0/2', '1/0', 'a/b', '1', '1/2/3', '-1/2']) {
      expect(() => parseShard(bad)).toThrow(ConfigError);
      expect(() => parseShard(bad)).toThrow(/--shard/);
    }
  });

  it('cover the grid exactly once, each cell whole (all its seeds in one shard)', () => {
    const spec = { ...MUST_SHOW, seeds: 3 };
    const all = gridRuns(spec).map((k) => JSON.stringify(k));
    const parts = [1, 2, 3].map((i) =>
      shardRuns(spec, { index: i, count: 3 }).map((k) => JSON.stringify(k)),
    );
    expect(parts.flat().sort()).toEqual([...all].sort());
    for (const part of parts) expect(part.length % 3).toBe(0);
  });

  it('shards 1/2 and 2/2 merged equal the whole sweep', async () => {
    const whole = await sweep(MUST_SHOW);
    const a = tmp();
    const b = tmp();
    const first = await sweep(MUST_SHOW, { shard: { index: 1, count: 2 }, dir: a });
    const second = await sweep(MUST_SHOW, { shard: { index: 2, count: 2 }, dir: b });
    expect(first.json.cells.length + second.json.cells.length).toBe(12);
    expect(first.json.cells.length).toBe(6);
    const merged = mergeSweeps([a, b]);
    expect(merged.json).toEqual(whole.json);
    expect(merged.manifest.shard).toBeNull();
  });

  it('merge refuses slices of different sweeps, naming the folder, and a grid with runs missing', async () => {
    const a = tmp();
    const b = tmp();
    await sweep(MUST_SHOW, { shard: { index: 1, count: 2 }, dir: a });
    await sweep({ ...MUST_SHOW, seeds: 2 }, { shard: { index: 2, count: 2 }, dir: b });
    expect(() => mergeSweeps([a, b])).toThrow(new RegExp(`${b}: is another sweep`));
    expect(() => mergeSweeps([a])).toThrow(/merge: 6 of 12 runs missing/);
    expect(() => mergeSweeps([tmp()])).toThrow(/holds no sweep/);
  });
});

describe('the sweep folder', () => {
  it('keeps each run as it ends; a second sweep into it runs only what is missing', async () => {
    const dir = tmp();
    const first = await sweep(MUST_SHOW, { dir });
    expect(first.ran).toBe(12);
    expect(readRuns(dir).size).toBe(12);
    const again = await sweep(MUST_SHOW, { dir });
    expect(again.ran).toBe(0);
    expect(again.json).toEqual(first.json);
    // Nothing half-written: only the manifest and whole run files.
    expect(readdirSync(dir).sort()).toEqual(['runs', 'sweep.json']);
    expect(readdirSync(join(dir, 'runs')).every((f) => /^[0-9a-f]{20}\.json$/.test(f))).toBe(true);
  });

  it('refuses a folder that holds another sweep, or another slice of this one', () => {
    const dir = tmp();
    openSweepDir(dir, manifest(MUST_SHOW, null), '--report');
    expect(() => openSweepDir(dir, manifest({ ...MUST_SHOW, seeds: 3 }, null), '--report')).toThrow(
      /--report: .* holds another sweep/,
    );
    expect(() =>
      openSweepDir(dir, manifest(MUST_SHOW, { index: 1, count: 2 }), '--report'),
    ).toThrow(/holds shard all of this sweep, not 1\/2/);
  });
});

describe('stopping', () => {
  it('Ctrl-C keeps what finished, and a resume runs only the rest', async () => {
    const dir = tmp();
    openSweepDir(dir, manifest(MUST_SHOW, null), '--report');
    const controller = new AbortController();
    let calls = 0;
    // Five runs finish; the sixth stops the sweep while it is in hand (it never ends).
    const runner: JobRunner = (job, signal) => {
      calls++;
      if (calls === 6) {
        const stopped = new Promise<never>((_, reject) =>
          signal?.addEventListener('abort', () => reject(new Error('aborted'))),
        );
        controller.abort();
        return stopped;
      }
      return Promise.resolve(fakeOutcome(job));
    };
    const pool = inlinePool(runner, 1);
    const r = await executeSweep({
      spec: MUST_SHOW,
      shard: null,
      refine: 0,
      pool,
      dir,
      signal: controller.signal,
    });
    await pool.close();
    expect(r.interrupted).toBe(true);
    expect(r.ran).toBe(5);
    expect(r.missing).toHaveLength(7);
    expect(readRuns(dir).size).toBe(5);
    const resumed = await sweep(MUST_SHOW, { dir });
    expect(resumed.ran).toBe(7);
    expect(resumed.json).toEqual((await sweep(MUST_SHOW)).json);
  });

  it('a failing run stops the sweep with its error, keeping the runs that finished', async () => {
    const dir = tmp();
    const spec = { ...MUST_SHOW, sets: [], x: parseAxis('--x', 'hog.tasks=1,255') };
    await expect(sweep(spec, { dir })).rejects.toThrow(/fake engine failure/);
    expect(readRuns(dir).size).toBeGreaterThan(0);
  });
});

describe('--refine', () => {
  it('bisects between neighbours that disagree, to the stated precision', async () => {
    const spec = {
      ...MUST_SHOW,
      policies: ['vanilla', 'memalloc'],
      x: parseAxis('--x', 'flood.connections=0,64'),
      y: parseAxis('--y', 'fault.durationSeconds=8'),
    };
    const r = await sweep(spec, { refine: 4 });
    // memalloc never disagrees: one boundary, vanilla's.
    expect(r.json.boundaries).toHaveLength(1);
    const b = r.json.boundaries?.[0];
    expect(b).toMatchObject({
      policy: 'vanilla',
      y: 8,
      from: { verdict: 'completed' },
      to: { verdict: 'deadlock' },
    });
    // 64 -> 32 -> 16 -> 8 -> 4 apart after four rounds.
    expect(b?.precision).toBe(4);
    expect(b?.probes).toHaveLength(4);
    // The fake's threshold for seed 1 lies in between.
    const t = fakeOutcome({
      scenario: 'partition-c',
      engine: 'real',
      policy: 'vanilla',
      x: 0,
      y: 8,
      seed: 1,
      sets: ['flood.connections=' + String(b?.to.x)],
    });
    expect(t.verdict).toBe('deadlock');
    expect(r.json.cells).toHaveLength(4);
  });

  it('stops when an integer knob has no value left in between', async () => {
    const spec = {
      ...MUST_SHOW,
      policies: ['vanilla'],
      x: parseAxis('--x', 'flood.connections=0,64'),
      y: parseAxis('--y', 'fault.durationSeconds=8'),
    };
    const r = await sweep(spec, { refine: 20 });
    expect(r.json.boundaries?.[0]?.precision).toBe(1);
  });
});

describe('worker threads', () => {
  it('give the same sweep as this thread (tsx loads the runner in each worker)', async () => {
    const pool = workerPool(new URL('../helpers/fake-sweep-runner.ts', import.meta.url).href, 2);
    try {
      const r = await executeSweep({ spec: MUST_SHOW, shard: null, refine: 0, pool });
      expect(r.json).toEqual((await sweep(MUST_SHOW)).json);
    } finally {
      await pool.close();
    }
  });

  it("carry a run's error back with its message", async () => {
    const pool = workerPool(new URL('../helpers/fake-sweep-runner.ts', import.meta.url).href, 1);
    try {
      const spec = {
        ...MUST_SHOW,
        policies: ['vanilla'],
        y: null,
        x: parseAxis('--x', 'hog.tasks=255'),
      };
      await expect(executeSweep({ spec, shard: null, refine: 0, pool })).rejects.toThrow(
        /fake engine failure/,
      );
    } finally {
      await pool.close();
    }
  });
});
