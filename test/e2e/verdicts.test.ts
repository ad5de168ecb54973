// The verdicts through the real CLI: `swapnet run --json` of the built-in scenarios, each
// against its own three processes (~31 s of wall time each, three runs in all).
// partition-c under vanilla wedges A (C's replies tossed as pfmemalloc after the heal),
// under memalloc it recovers with every page read back intact, and the same partition
// without the flood (quiet-partition) heals under vanilla. The JSON is DESIGN.md
// section 9's contract, key for key; --expect turns a different verdict into exit 1.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllCli, killNodesOf, nodeProcessesOf, runCliProcess } from '../helpers/cli-process.ts';

// A state directory of this file's own: other runs on the machine cannot interfere.
const STATE_DIR = mkdtempSync(join(tmpdir(), 'swapnet-e2e-verdicts-'));
const ENV = { ...process.env, SWAPNET_STATE_DIR: STATE_DIR };

afterEach(async () => {
  await killAllCli();
  killNodesOf(STATE_DIR);
});

afterAll(() => {
  rmSync(STATE_DIR, { recursive: true, force: true });
});

/** Every key of `run --json` (DESIGN.md section 9), nested objects by their own keys. */
const RESULT_KEYS = {
  engine: 'string',
  scenario: 'string',
  policy: 'string',
  era: 'string',
  seed: 'number',
  verdict: 'string',
  writeout: { issued: 'number', completed: 'number', pendingAtEnd: 'number' },
  recoverySeconds: 'number|null',
  rx: {
    delivered: 'number',
    tossedPfmemalloc: 'number',
    droppedNoMem: 'number',
    droppedProtoMem: 'number',
  },
  reserve: { sizePages: 'number', peakUsedPages: 'number' },
  integrity: { pagesVerified: 'number', mismatches: 'number' },
  oomKills: 'number',
  durationSeconds: 'number',
} as const;

type Shape = string | { readonly [key: string]: Shape };

/** `value` described like RESULT_KEYS: objects by their keys, leaves by their type. */
function shapeOf(value: unknown, like: Shape): Shape {
  if (typeof like === 'string' || value === null || typeof value !== 'object') {
    const type = value === null ? 'null' : typeof value;
    return typeof like === 'string' && like.split('|').includes(type) ? like : type;
  }
  const out: Record<string, Shape> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    out[k] = shapeOf(v, like[k] ?? '?');
  return out;
}

interface RunJson {
  scenario: string;
  policy: string;
  era: string;
  seed: number;
  verdict: string;
  writeout: { issued: number; completed: number; pendingAtEnd: number };
  recoverySeconds: number | null;
  rx: {
    delivered: number;
    tossedPfmemalloc: number;
    droppedNoMem: number;
    droppedProtoMem: number;
  };
  reserve: { sizePages: number; peakUsedPages: number };
  integrity: { pagesVerified: number; mismatches: number };
  oomKills: number;
  durationSeconds: number;
}

/** `swapnet run ...args --json`: checks the output contract, logs the wall time. */
async function run(args: readonly string[]) {
  const r = await runCliProcess(['run', ...args, '--json'], ENV, 150_000);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const result = JSON.parse(lines[0] ?? 'null') as RunJson;
  console.log(
    `swapnet run ${args.join(' ')} --json: exit ${r.code}, wall time ${r.wallSeconds.toFixed(1)} s ` +
      `(durationSeconds ${result?.durationSeconds}), verdict ${result?.verdict}, ` +
      `writeout ${result?.writeout.completed}/${result?.writeout.issued} completed, ` +
      `${result?.rx.tossedPfmemalloc} tossed (pfmemalloc), ` +
      `${result?.integrity.pagesVerified} pages verified, ${result?.integrity.mismatches} mismatches`,
  );
  // stdout is the result and nothing else: one JSON object on one line.
  expect(lines, r.stderr.slice(-3000)).toHaveLength(1);
  expect(shapeOf(result, RESULT_KEYS)).toEqual(RESULT_KEYS);
  // The run ended at the scenario's `end` (30 s) and took its processes with it.
  expect(result.durationSeconds).toBeGreaterThanOrEqual(30);
  expect(nodeProcessesOf(STATE_DIR)).toEqual([]);
  expect(readdirSync(STATE_DIR)).toEqual([]);
  return { ...r, result };
}

describe('swapnet run --json: verdicts of the built-in scenarios', () => {
  it('partition-c under vanilla is a deadlock; --expect completed exits 1 with that result', async () => {
    const r = await run([
      '--scenario',
      'partition-c',
      '--policy',
      'vanilla',
      '--expect',
      'completed',
    ]);
    expect(r.code).toBe(1);
    expect(r.result).toMatchObject({
      scenario: 'partition-c',
      policy: 'vanilla',
      era: 'modern',
      seed: 1,
      verdict: 'deadlock',
    });
    expect(r.stderr).toContain('expected completed, got deadlock');
    // Writeout stuck after the heal: pending at the end, never drained; replies tossed.
    expect(r.result.writeout.pendingAtEnd).toBeGreaterThan(0);
    expect(r.result.recoverySeconds).toBeNull();
    expect(r.result.rx.tossedPfmemalloc).toBeGreaterThan(0);
    // A wedge, not a kill and not a corruption.
    expect(r.result.oomKills).toBe(0);
    expect(r.result.integrity.mismatches).toBe(0);
  });

  it('partition-c under memalloc completes with every page read back intact (--expect completed exits 0)', async () => {
    const r = await run([
      '--scenario',
      'partition-c',
      '--policy',
      'memalloc',
      '--expect',
      'completed',
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.result).toMatchObject({
      scenario: 'partition-c',
      policy: 'memalloc',
      verdict: 'completed',
    });
    expect(r.result.integrity.pagesVerified).toBeGreaterThan(0);
    expect(r.result.integrity.mismatches).toBe(0);
    expect(r.result.oomKills).toBe(0);
    expect(r.result.recoverySeconds).toEqual(expect.any(Number));
    expect(r.result.writeout.completed).toBeGreaterThan(0);
  });

  it('quiet-partition under vanilla completes (no flood, nothing tossed)', async () => {
    const r = await run([
      '--scenario',
      'quiet-partition',
      '--policy',
      'vanilla',
      '--expect',
      'completed',
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.result).toMatchObject({
      scenario: 'quiet-partition',
      policy: 'vanilla',
      verdict: 'completed',
    });
    expect(r.result.rx.tossedPfmemalloc).toBe(0);
    expect(r.result.integrity.mismatches).toBe(0);
    expect(r.result.oomKills).toBe(0);
  });
});
