// The orchestrator's commands through main(), in-process: --help, and bad usage that must
// exit 2 naming the flag before anything starts (DESIGN.md section 9). No topology runs
// here: Topology.start is replaced by a stub that fails the test if reached.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BUILTIN_SCENARIOS } from '../../orchestrator/builtin-scenarios.ts';
import { POLICIES } from '../../orchestrator/policies.ts';
import { Topology } from '../../orchestrator/topology.ts';
import { KNOB_KEYS, KNOB_SPECS } from '../../nodes/knobs.ts';
import { runCli } from '../helpers/cli.ts';

const NO_TOPOLOGY = 'this test must not start a topology: the command accepted bad usage';

let dir: string;
/** An empty state directory: no topology is running there. */
let stateEnv: NodeJS.ProcessEnv;
beforeAll(() => {
  // runPlan and `up` both start through Topology.start: reaching it fails the test.
  vi.spyOn(Topology, 'start').mockImplementation(() => {
    throw new Error(NO_TOPOLOGY);
  });
  dir = mkdtempSync(join(tmpdir(), 'swapnet-cli-test-'));
  mkdirSync(join(dir, 'state'));
  stateEnv = { SWAPNET_STATE_DIR: join(dir, 'state') };
});
afterAll(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('--help', () => {
  it.each(['run', 'compare', 'up', 'fault', 'down', 'list', 'demo', 'sysctl'])(
    '%s --help exits 0 and prints its usage on stdout',
    async (name) => {
      const r = await runCli([name, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: swapnet ${name}\\b`));
      expect(r.stderr).toBe('');
      const short = await runCli([name, '-h']);
      expect(short.code).toBe(0);
      expect(short.stdout).toBe(r.stdout);
    },
  );

  it('the top-level usage lists every command', async () => {
    const r = await runCli(['help']);
    expect(r.code).toBe(0);
    for (const name of ['run', 'compare', 'up', 'fault', 'down', 'sysctl', 'list', 'demo'])
      expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });
});

/** Runs the CLI, expecting exit 2 with `pattern` on stderr and nothing on stdout. */
async function usageError(
  argv: readonly string[],
  pattern: RegExp,
  env: NodeJS.ProcessEnv = stateEnv,
): Promise<string> {
  const r = await runCli(argv, env);
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  return r.stderr;
}

describe('swapnet run: bad usage exits 2 naming the flag', () => {
  it('--expect with something that is not a verdict', async () => {
    await usageError(
      ['run', '--expect', 'frob'],
      /--expect: "frob" is not a verdict \(completed, deadlock, livelock, oom, data-loss\)/,
    );
  });

  it('--scenario that is neither a built-in nor a file', async () => {
    await usageError(['run', '--scenario', 'nonexistent'], /--scenario: "nonexistent" is neither/);
  });

  it('--scenario of a missing file', async () => {
    await usageError(['run', '--scenario', join(dir, 'missing.yaml')], /--scenario: cannot read/);
  });

  it('--scenario of an invalid file names the field', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify({
        name: 'bad',
        description: 'an unknown key inside an action',
        timeline: [
          { at: 0, do: 'start', workload: 'hog' },
          { at: 1, do: 'fault', target: 'c' },
          { at: 2, do: 'heal', target: 'c', bogus: 1 },
          { at: 3, do: 'end' },
        ],
      }),
    );
    const stderr = await usageError(['run', '--scenario', path], /timeline\.2\.bogus: unknown key/);
    expect(stderr).toContain(path);
  });

  it('--set of a knob that does not exist names the key', async () => {
    await usageError(['run', '--set', 'mem.ramMib=5'], /mem\.ramMib: unknown knob/);
  });

  it('--set of a value out of range names the key and the value', async () => {
    await usageError(['run', '--set', 'mem.ramMiB=5'], /mem\.ramMiB: 5 is not accepted/);
  });

  it('--set without =', async () => {
    await usageError(['run', '--set', 'mem.ramMiB'], /expected key=value/);
  });

  it.each(['-1', '1.5', 'abc', '4294967296'])('--seed=%s', async (seed) => {
    await usageError(['run', `--seed=${seed}`], /--seed: ".*" is not a whole number/);
  });

  it('--seed -1 (parseArgs takes -1 for a flag) still names --seed', async () => {
    await usageError(['run', '--seed', '-1'], /--seed/);
  });

  it('--policy and --era that do not exist', async () => {
    await usageError(['run', '--policy', 'magic'], /--policy: "magic" is not a policy/);
    await usageError(['run', '--era', '4.0'], /--era: "4\.0" is not an era/);
  });

  it('an unknown flag, and a flag without its value', async () => {
    await usageError(['run', '--frobnicate'], /--frobnicate/);
    await usageError(['run', '--scenario'], /--scenario/);
  });
});

describe('swapnet compare, up and demo: bad usage exits 2 before anything starts', () => {
  it('compare checks every scenario and policy of the matrix first', async () => {
    await usageError(
      ['compare', '--policies', 'vanilla,magic'],
      /--policy: "magic" is not a policy/,
    );
    await usageError(['compare', '--scenarios', 'partition-c,nowhere'], /--scenario: "nowhere"/);
    await usageError(['compare', '--seed', '-1'], /--seed/);
  });

  it('up refuses an unknown policy or a bad --set', async () => {
    await usageError(['up', '--policy', 'magic'], /--policy/);
    await usageError(['up', '--set', 'nope=1'], /nope: unknown knob/);
  });

  it('regression (up and demo took --seed -1 and --seed abc): both refuse them naming --seed', async () => {
    await usageError(['up', '--seed=-1'], /--seed: "-1" is not a whole number/);
    await usageError(['up', '--seed', 'abc'], /--seed: "abc" is not a whole number/);
    await usageError(['demo', '--seed', 'abc'], /--seed: "abc" is not a whole number/);
  });
});

describe('swapnet fault: bad usage exits 2 naming the flag', () => {
  it('without a verb, or with an unknown one', async () => {
    await usageError(['fault', '--target', 'c'], /expected "partition" or "heal", got nothing/);
    await usageError(['fault', 'explode', '--target', 'c'], /got "explode"/);
    await usageError(['fault', 'partition', 'c'], /unexpected "c"/);
  });

  it('without --target, or with a node that does not exist', async () => {
    await usageError(['fault', 'partition'], /--target: expected a, b or c/);
    await usageError(['fault', 'partition', '--target', 'd'], /--target: expected a, b or c/);
  });

  it('with a mode that is not a fault mode; netns needs a running netns topology', async () => {
    await usageError(
      ['fault', 'partition', '--target', 'c', '--mode', 'frob'],
      /--mode: "frob" is not a fault mode \(stall, blackhole, reset, pause, loss, delay, netns\)/,
    );
    await usageError(
      ['fault', 'partition', '--target', 'c', '--mode', 'netns'],
      /no running topology/,
    );
  });

  it('with a duration that is not one', async () => {
    for (const d of ['ten', '-5s', '10h', ''])
      await usageError(
        ['fault', 'partition', '--target', 'c', `--for=${d}`],
        /--for: ".*" is not a duration/,
      );
  });

  it('with a bad --direction', async () => {
    await usageError(
      ['fault', 'partition', '--target', 'c', '--direction', 'up'],
      /--direction: expected in, out or both/,
    );
  });

  it('with no running topology in SWAPNET_STATE_DIR (from the env it is given), saying so', async () => {
    await usageError(['fault', 'partition', '--target', 'c'], /no running topology/);
    await usageError(['fault', 'heal', '--target', 'c', '--for', '2s'], /no running topology/);
    const missing = { SWAPNET_STATE_DIR: join(dir, 'does-not-exist') };
    await usageError(['fault', 'partition', '--target', 'a'], /no running topology/, missing);
  });
});

describe('swapnet down', () => {
  it('--json with nothing running prints {"topologies":0,"killed":0}', async () => {
    const r = await runCli(['down', '--json'], stateEnv);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"topologies":0,"killed":0}\n');
    const missing = await runCli(['down', '--json'], {
      SWAPNET_STATE_DIR: join(dir, 'does-not-exist'),
    });
    expect(missing.stdout).toBe('{"topologies":0,"killed":0}\n');
  });

  it('without --json says so on stderr and prints nothing on stdout', async () => {
    const r = await runCli(['down'], stateEnv);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/nothing was running/);
  });

  it('cleans up a topology whose CLI and nodes are gone, in the state dir of its env', async () => {
    const state = join(dir, 'leftover');
    const work = join(dir, 'leftover-work');
    mkdirSync(state);
    mkdirSync(work);
    // Pids above the kernel's PID_MAX_LIMIT (4194304) cannot be alive.
    const gone = 99_999_999;
    writeFileSync(
      join(state, 'abc123.json'),
      JSON.stringify({
        id: 'abc123',
        token: 't',
        cliPid: gone,
        workDir: work,
        nodes: [
          { role: 'c', pid: gone, http: '127.0.0.1:1' },
          { role: 'a', pid: gone + 1, http: '127.0.0.1:2' },
        ],
      }),
    );
    const r = await runCli(['down', '--json'], { SWAPNET_STATE_DIR: state });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ topologies: 1, killed: 0 });
    expect(existsSync(join(state, 'abc123.json'))).toBe(false);
    expect(existsSync(work)).toBe(false);
  });
});

describe('swapnet list', () => {
  interface Listing {
    scenarios: { name: string; description: string }[];
    policies: { name: string; seed: string; summary: string; sets: Record<string, unknown> }[];
    eras: { name: string }[];
    faultModes: { name: string; description: string }[];
    knobs: { key: string; default: unknown; description: string }[];
  }

  it('--json has every built-in scenario, every policy, 3 eras, 7 fault modes and every knob', async () => {
    const r = await runCli(['list', '--json']);
    expect(r.code).toBe(0);
    const l = JSON.parse(r.stdout) as Listing;
    expect(l.scenarios.map((s) => s.name)).toEqual(BUILTIN_SCENARIOS.map((s) => s.name));
    expect(l.policies.map((p) => p.name)).toEqual(POLICIES.map((p) => p.name));
    expect(l.eras.map((e) => e.name)).toEqual(['2.6', '3.6', 'modern']);
    expect(l.faultModes.map((m) => m.name)).toEqual([
      'stall',
      'blackhole',
      'reset',
      'pause',
      'loss',
      'delay',
      'netns',
    ]);
    expect(l.faultModes.map((m) => m.name)).toEqual(KNOB_SPECS['fault.mode'][0].options);
    expect(l.knobs.map((k) => k.key)).toEqual(KNOB_KEYS);
    for (const k of l.knobs) {
      expect(k.default).toEqual(KNOB_SPECS[k.key as (typeof KNOB_KEYS)[number]][1]);
      expect(k.description.length).toBeGreaterThan(0);
    }
    // The keys DESIGN.md section 6 promises.
    for (const key of [
      'mem.ramMiB',
      'vm.minFreeKbytes',
      'vm.watermarkScaleFactor',
      'net.tcpMem',
      'flood.connections',
      'flood.ignoreWindow',
      'swap.queueDepth',
      'swap.sndbufBytes',
      'fault.mode',
      'fault.atSeconds',
      'fault.forSeconds',
      'time.scale',
    ])
      expect(KNOB_KEYS).toContain(key);
    // Each policy shows the knobs it sets on the defaults (min-free-20 on 256 MiB).
    expect(l.policies.find((p) => p.name === 'min-free-20')?.sets).toMatchObject({
      'vm.minFreeKbytes': 52428,
    });
  });

  it('without --json prints the same things as sections', async () => {
    const r = await runCli(['list']);
    expect(r.code).toBe(0);
    for (const section of ['SCENARIOS', 'POLICIES', 'ERAS', 'FAULT MODES', 'KNOBS'])
      expect(r.stdout).toMatch(new RegExp(`^${section}`, 'm'));
    for (const s of BUILTIN_SCENARIOS) expect(r.stdout).toContain(`  ${s.name} `);
    for (const k of KNOB_KEYS) expect(r.stdout).toContain(`  ${k} `);
  });

  it('refuses an unknown flag', async () => {
    await usageError(['list', '--all'], /--all/);
  });
});
