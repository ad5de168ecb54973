// C killed with SIGKILL in the middle of writeout and restarted on its store, in a whole
// topology through the real CLI: `swapnet run --scenario c-restart --policy memalloc`
// (C stalls at 10 s, is killed and restarted at 14 s, healed at 18 s; ~33 s of wall
// time). Writeouts were in flight when C died; A reconnects and resends them, every one
// completes, and every page A read back matched what it wrote: no page lost (a page C
// forgot would come back NOT_FOUND, a swap-in error, so those are checked too).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllCli, killNodesOf, nodeProcessesOf, runCliProcess } from '../helpers/cli-process.ts';

const WORK = mkdtempSync(join(tmpdir(), 'swapnet-e2e-c-restart-'));
// A state directory of this file's own: other runs on the machine cannot interfere.
const STATE_DIR = join(WORK, 'state');
const REPORT_DIR = join(WORK, 'report');
const ENV = { ...process.env, SWAPNET_STATE_DIR: STATE_DIR };

afterEach(async () => {
  await killAllCli();
  killNodesOf(STATE_DIR);
});

afterAll(() => {
  rmSync(WORK, { recursive: true, force: true });
});

interface RunRecord {
  readonly result: {
    readonly verdict: string;
    readonly writeout: { issued: number; completed: number; pendingAtEnd: number };
    readonly integrity: { pagesVerified: number; mismatches: number };
    readonly oomKills: number;
  };
  readonly timeline: readonly {
    readonly t: number;
    readonly issued: number;
    readonly completed: number;
    readonly pending: number;
  }[];
  readonly events: readonly { readonly t: number; readonly what: string }[];
  readonly finalStats: Readonly<Record<string, number>>;
}

describe('C killed with SIGKILL mid-writeout and restarted (c-restart)', () => {
  it('every writeout in flight at the kill completes, and every page read back matches', async () => {
    const r = await runCliProcess(
      [
        'run',
        '--scenario',
        'c-restart',
        '--policy',
        'memalloc',
        '--report',
        REPORT_DIR,
        '--json',
        '--expect',
        'completed',
      ],
      ENV,
      150_000,
    );
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // --report writes the record (.json) and its page (.html).
    const files = readdirSync(REPORT_DIR).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    const record = JSON.parse(
      readFileSync(join(REPORT_DIR, files[0] as string), 'utf8'),
    ) as RunRecord;
    const restart = record.events.find((e) => e.what === 'restart c');
    expect(restart, JSON.stringify(record.events)).toBeDefined();
    // A's last sample before the kill: writeouts in flight (C stalled since 12 s).
    const before = record.timeline.filter((p) => p.t < (restart?.t ?? 0)).at(-1);
    console.log(
      `c-restart: ${before?.pending} writeouts pending at the kill; ` +
        `${record.result.writeout.completed}/${record.result.writeout.issued} completed, ` +
        `${record.result.integrity.pagesVerified} pages verified, ${record.result.integrity.mismatches} mismatches; wall ${r.wallSeconds.toFixed(1)} s`,
    );
    expect(before?.pending).toBeGreaterThan(0);
    // None lost: a writeout A never got an answer for stays pending for good, so a sample
    // after the kill with nothing pending means every one in flight at the kill completed.
    const drained = record.timeline.find((p) => p.t > (restart?.t ?? 0) && p.pending === 0);
    expect(drained, 'no sample after the restart with every writeout completed').toBeDefined();
    expect(drained?.completed).toBeGreaterThanOrEqual(before?.issued ?? Infinity);
    expect(record.result.verdict).toBe('completed');
    // ... and each completed with C's OK: none failed, and the hog kept swapping to the new C.
    expect(record.finalStats.writeoutFailed).toBe(0);
    expect(record.result.writeout.completed).toBeGreaterThan(drained?.completed ?? Infinity);
    // Every page A read back, before the kill and from the restarted store, was there
    // (no swap-in error) and matched what A wrote.
    expect(record.result.integrity.pagesVerified).toBeGreaterThan(0);
    expect(record.finalStats.swapInErrors).toBe(0);
    expect(record.result.integrity.mismatches).toBe(0);
    expect(record.result.oomKills).toBe(0);
    expect(nodeProcessesOf(STATE_DIR)).toEqual([]);
  });
});
