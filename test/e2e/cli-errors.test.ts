// Bad input through the real CLI: an invalid scenario file, a knob that does not exist, a
// policy that does not exist. Each exits 2 before any process starts, with a message on
// stderr that names the field and nothing on stdout; nothing is left running and the
// state directory stays empty. And Ctrl-C during a run (a short scenario file) exits 130
// and stops every process the run started.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  killAllCli,
  killNodesOf,
  nodeProcessesOf,
  pidExists,
  runCliProcess,
  spawnCli,
} from '../helpers/cli-process.ts';

const WORK = mkdtempSync(join(tmpdir(), 'swapnet-e2e-errors-'));
// A state directory of this file's own: other runs on the machine cannot interfere.
const STATE_DIR = join(WORK, 'state');
mkdirSync(STATE_DIR);
const ENV = { ...process.env, SWAPNET_STATE_DIR: STATE_DIR };

afterEach(async () => {
  await killAllCli();
  killNodesOf(STATE_DIR);
});

afterAll(() => {
  rmSync(WORK, { recursive: true, force: true });
});

function scenarioFile(name: string, text: string): string {
  const path = join(WORK, name);
  writeFileSync(path, text);
  return path;
}

/** The node pids of the one topology recorded in the state directory. */
function recordedNodePids(): number[] {
  const files = readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  expect(files).toHaveLength(1);
  const state = JSON.parse(readFileSync(join(STATE_DIR, files[0] as string), 'utf8')) as {
    nodes: { role: string; pid: number }[];
  };
  return state.nodes.map((n) => n.pid);
}

/** Nothing of this file's runs is alive and no topology is recorded. */
function expectNothingLeft(): void {
  expect(nodeProcessesOf(STATE_DIR)).toEqual([]);
  expect(readdirSync(STATE_DIR)).toEqual([]);
}

describe('swapnet run: bad usage exits 2 and names the field', () => {
  it('a scenario file with an unknown key in an action', async () => {
    const file = scenarioFile(
      'bad-action.yaml',
      [
        'name: bad-action',
        'description: an action with a key the schema does not know',
        'timeline:',
        '  - { at: 0, do: start, workload: hog }',
        '  - { at: 2, do: fault, target: c, speed: 3 }',
        '  - { at: 8, do: end }',
        '',
      ].join('\n'),
    );
    const r = await runCliProcess(['run', '--scenario', file, '--json'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    // The file, the path to the action's field, and why.
    expect(r.stderr).toContain(`${file}: timeline.1.speed: unknown key`);
    expectNothingLeft();
  });

  it('a scenario file setting a knob that does not exist', async () => {
    const file = scenarioFile(
      'bad-knob.json',
      JSON.stringify({
        name: 'bad-knob',
        description: 'a knob that does not exist',
        knobs: { 'hog.tasks': 2, 'hog.turbo': 3 },
        timeline: [
          { at: 0, do: 'start', workload: 'hog' },
          { at: 8, do: 'end' },
        ],
      }),
    );
    const r = await runCliProcess(['run', '--scenario', file, '--json'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${file}: knobs.hog.turbo: unknown knob`);
    expectNothingLeft();
  });

  it('--policy nope', async () => {
    const r = await runCliProcess(['run', '--policy', 'nope', '--json'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--policy: "nope" is not a policy \(vanilla, .*memalloc/);
    expectNothingLeft();
  });
});

describe('swapnet run: Ctrl-C', () => {
  it('exits 130 once the run is under way and leaves no process and no state file', async () => {
    // Ends at 60 s: only the interruption can end it within the test.
    const file = scenarioFile(
      'long-quiet.yaml',
      [
        'name: long-quiet',
        'description: a hog and nothing else, for a minute',
        'knobs: { hog.tasks: 2 }',
        'timeline:',
        '  - { at: 0, do: start, workload: hog }',
        '  - { at: 60, do: end }',
        '',
      ].join('\n'),
    );
    const cli = spawnCli(['run', '--scenario', file, '--json'], ENV);
    // The first progress line: every node is up and the timeline is playing.
    await cli.line('stderr', /^\s*\d+s\s+warm-up\s/, 60_000);
    // C and A (the scenario never starts B's flood), as recorded for `swapnet down`.
    const pids = recordedNodePids();
    expect(pids).toHaveLength(2);
    expect(nodeProcessesOf(STATE_DIR).sort()).toEqual([...pids].sort());
    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    console.log(`run interrupted after ${cli.elapsedSeconds().toFixed(1)} s of wall time`);
    expect(exit.code, cli.stderr().slice(-3000)).toBe(130);
    expect(cli.stdout()).toBe('');
    expect(cli.stderr()).toContain('interrupted; every process stopped');
    for (const pid of pids) expect(pidExists(pid), `node pid ${pid}`).toBe(false);
    expectNothingLeft();
  });
});
