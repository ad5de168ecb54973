// `swapnet sweep` through main(), in-process, on the fake engine (worker threads load
// test/helpers/fake-sweep-runner.ts): the --json contract of DESIGN.md section 12, the
// report folder, merge of shards, and bad input that exits 2 naming the flag and the
// value with nothing written.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SweepJson } from '../../orchestrator/sweep/cells.ts';
import { runCli } from '../helpers/cli.ts';

const FAKE = new URL('../helpers/fake-sweep-runner.ts', import.meta.url).href;
const WORK = mkdtempSync(join(tmpdir(), 'swapnet-sweep-cli-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

const MUST_SHOW = [
  'sweep',
  '--scenario',
  'partition-c',
  '--policies',
  'vanilla,memalloc',
  '--x',
  'flood.connections=0,16,64',
  '--y',
  'fault.durationSeconds=2,8',
];

const sweep = (argv: readonly string[], extra: { signal?: AbortSignal } = {}) =>
  runCli(argv, {}, { sweepRunner: FAKE, ...extra });

let n = 0;
const dir = (): string => join(WORK, `d${++n}`);

describe('swapnet sweep', () => {
  it('--help prints the usage', async () => {
    const r = await runCli(['sweep', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: swapnet sweep --scenario S --policies P,Q --x KNOB=VALUES/);
    expect(r.stdout).toMatch(/swapnet sweep merge DIR/);
  });

  it('--json prints the sweep object of DESIGN.md section 12: 12 cells for the must-show grid', async () => {
    const r = await sweep([...MUST_SHOW, '--json', '--jobs', '2']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as SweepJson;
    expect(Object.keys(json)).toEqual(['scenario', 'engine', 'policies', 'x', 'y', 'cells']);
    expect(json).toMatchObject({
      scenario: 'partition-c',
      policies: ['vanilla', 'memalloc'],
      x: { knob: 'flood.connections', values: [0, 16, 64] },
      y: { knob: 'fault.durationSeconds', values: [2, 8] },
    });
    expect(json.cells).toHaveLength(12);
    // The progress bar went to stderr: runs done of all, an ETA.
    expect(r.stderr).toMatch(/12\/12 runs \(100%\).*ETA/);
  });

  it('--report keeps every run and writes the page, the SVG, CSV and JSON; the same sweep again runs nothing', async () => {
    const d = dir();
    const r = await sweep([...MUST_SHOW, '--report', d, '--seeds', '2', '--json']);
    expect(r.code).toBe(0);
    expect(readdirSync(d).sort()).toEqual([
      'cells.csv',
      'cells.json',
      'heatmap.svg',
      'index.html',
      'runs',
      'sweep.json',
    ]);
    expect(readdirSync(join(d, 'runs'))).toHaveLength(24);
    const csv = readFileSync(join(d, 'cells.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(
      'policy,x_knob,x,y_knob,y,verdict,split,completed,deadlock,livelock,oom,data-loss,recoverySeconds,tossed,heldBackPages',
    );
    expect(csv).toHaveLength(13);
    expect(JSON.parse(readFileSync(join(d, 'cells.json'), 'utf8'))).toEqual(JSON.parse(r.stdout));
    expect(readFileSync(join(d, 'heatmap.svg'), 'utf8')).toMatch(
      /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
    );
    const again = await sweep([...MUST_SHOW, '--report', d, '--seeds', '2', '--json']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^0 runs in/m);
    expect(again.stdout).toBe(r.stdout);
    const resumed = await sweep(['sweep', '--resume', d, '--json']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe(r.stdout);
  });

  it('shards 1/2 and 2/2, merged, print exactly the whole sweep', async () => {
    const whole = await sweep([...MUST_SHOW, '--json']);
    const a = dir();
    const b = dir();
    expect((await sweep([...MUST_SHOW, '--shard', '1/2', '--report', a])).code).toBe(0);
    expect((await sweep([...MUST_SHOW, '--shard', '2/2', '--report', b])).code).toBe(0);
    const out = dir();
    const merged = await runCli(['sweep', 'merge', a, b, '--json', '--report', out]);
    expect(merged.code).toBe(0);
    expect(merged.stdout).toBe(whole.stdout);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
    // The merged folder is a whole sweep: a resume there runs nothing and says the same.
    const resumed = await sweep(['sweep', '--resume', out, '--json']);
    expect(resumed.stdout).toBe(whole.stdout);
  });

  it('merge refuses slices of different sweeps, naming the folder', async () => {
    const a = dir();
    const b = dir();
    await sweep([...MUST_SHOW, '--shard', '1/2', '--report', a]);
    await sweep([...MUST_SHOW, '--seeds', '2', '--shard', '2/2', '--report', b]);
    const r = await runCli(['sweep', 'merge', a, b]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${b}: is another sweep`);
    const partial = await runCli(['sweep', 'merge', a]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toMatch(/6 of 12 runs missing/);
  });

  it('an interrupted sweep exits 130 and keeps its folder resumable', async () => {
    const d = dir();
    const controller = new AbortController();
    controller.abort();
    const r = await sweep([...MUST_SHOW, '--report', d], { signal: controller.signal });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted; 12 runs not finished.*--resume/);
    const resumed = await sweep(['sweep', '--resume', d, '--json']);
    expect(resumed.code).toBe(0);
    expect((JSON.parse(resumed.stdout) as SweepJson).cells).toHaveLength(12);
  });

  it.each([
    [['--x', 'no.such=1,2'], /--x: "no.such" is not a knob/],
    [['--x', 'flood.connections=0,200000'], /--x: .*200000 is not accepted/],
    [['--x', 'flood.connections=8..1024:six:log'], /--x: .*not a range/],
    [['--y', 'fault.durationSeconds=0,8'], /--y: .*0 is not accepted/],
    [['--shard', '3/2'], /--shard: "3\/2" is not a slice/],
    [['--policies', 'vanilla,nope'], /--policies: "nope" is not a policy/],
    [['--engine', 'quantum'], /--engine: "quantum" is not an engine/],
    [['--seeds', '0'], /--seeds: "0" is not a whole number/],
    [['--jobs', 'many'], /--jobs: "many" is not a whole number/],
    [
      ['--refine', '2', '--shard', '1/2'],
      /--refine: a shard \(1\/2\) does not hold the whole grid/,
    ],
    [
      ['--set', 'net.rtoMinMs=5000', '--x', 'net.rtoMaxMs=1000,9000'],
      /net.rtoMaxMs: must not be below net.rtoMinMs \(vanilla at net.rtoMaxMs=1000/,
    ],
    [['--scenario', 'nope'], /--scenario: "nope" is neither a built-in/],
  ])(
    'bad input %j exits 2 naming the flag and the value, and writes nothing',
    async (extra, message) => {
      const d = dir();
      const argv = [...MUST_SHOW];
      for (let i = 0; i < extra.length; i += 2) {
        const at = argv.indexOf(extra[i] as string);
        if (at >= 0) argv.splice(at, 2);
      }
      const r = await sweep([...argv, ...extra, '--report', d]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(d)).toBe(false);
    },
  );

  it('a folder that holds another sweep is refused and left as it was', async () => {
    const d = dir();
    await sweep([...MUST_SHOW, '--report', d]);
    const before = statSync(join(d, 'sweep.json')).mtimeMs;
    const r = await sweep([...MUST_SHOW, '--seeds', '3', '--report', d]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report: .* holds another sweep/);
    expect(statSync(join(d, 'sweep.json')).mtimeMs).toBe(before);
    expect(readdirSync(join(d, 'runs'))).toHaveLength(12);
  });

  it('--resume refuses a folder with no sweep, and flags that would change the sweep', async () => {
    const empty = dir();
    mkdirSync(empty);
    expect((await sweep(['sweep', '--resume', empty])).stderr).toMatch(
      /--resume: .* holds no sweep/,
    );
    const r = await sweep(['sweep', '--resume', empty, '--seeds', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--seeds: --resume .* cannot change/);
  });
});
