// Scenarios (DESIGN.md section 7): every built-in validates, JSON and YAML files load, and
// every error carries SWAPNET_ERR_SCENARIO_INVALID with a `field` that names the path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_SCENARIOS } from '../../orchestrator/builtin-scenarios.ts';
import { loadScenario, resolveTimeline, validateScenario } from '../../orchestrator/scenario.ts';
import { planRun } from '../../orchestrator/run-plan.ts';
import { defaultKnobs } from '../../nodes/knobs.ts';
import { ConfigError, ERROR_CODES } from '../../reserve/errors.ts';

/** A valid scenario to break one field at a time. */
function base(): Record<string, unknown> & { timeline: Record<string, unknown>[] } {
  return {
    name: 'tmp-partition',
    description: 'a partition of C for the tests',
    knobs: { 'mem.ramMiB': 128, 'flood.rate': 500 },
    timeline: [
      { at: 0, do: 'start', workload: 'hog' },
      { at: 2, do: 'start', workload: 'flood' },
      { at: 5, do: 'fault', target: 'c', mode: 'blackhole' },
      { at: 9, do: 'heal', target: 'c' },
      { at: 20, do: 'end' },
    ],
  };
}

/** Runs `f`, expecting a scenario ConfigError; returns it. */
function scenarioError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.code).toBe(ERROR_CODES.scenarioInvalid);
    return e;
  }
  throw new Error('expected a SWAPNET_ERR_SCENARIO_INVALID error, nothing was thrown');
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'swapnet-scenario-test-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('built-in scenarios', () => {
  it('include at least the ones DESIGN.md section 7 lists, each name once', () => {
    const names = BUILTIN_SCENARIOS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of [
      'partition-c',
      'partition-c-clean',
      'quiet-partition',
      'memalloc-dynamic',
      'long-partition',
      'flapping',
      'c-restart',
      'dm-crypt',
      'memcg-service',
      'nofail-livelock',
    ]) {
      expect(names).toContain(n);
    }
  });

  it.each(BUILTIN_SCENARIOS.map((s) => s.name))('%s validates and loads by name', (name) => {
    const s = loadScenario(name);
    expect(s.name).toBe(name);
    expect(s.timeline.at(-1)?.do).toBe('end');
    expect(s.stallWindowSeconds).toBeGreaterThan(0);
  });

  it('partition-c: hog, flood once the hogs are past their first pass, C stalled from 10 s to 18 s', () => {
    const s = loadScenario('partition-c');
    expect(s.timeline).toEqual([
      { at: 0, do: 'start', workload: 'hog' },
      { at: 4, do: 'start', workload: 'flood' },
      { at: 10, do: 'fault', target: 'c' },
      { at: 18, do: 'heal', target: 'c', length: 'fault.durationSeconds' },
      { at: 30, do: 'end' },
    ]);
  });

  it('the partition scenarios last fault.durationSeconds (default 8): the heal and what follows move with it', () => {
    expect(defaultKnobs()['fault.durationSeconds']).toBe(8);
    const timeline = (name: string, seconds: number) =>
      planRun({
        scenario: name,
        policy: 'vanilla',
        sets: [`fault.durationSeconds=${seconds}`],
      }).scenario.timeline.map((a) => `${a.do}@${a.at}`);
    expect(timeline('partition-c', 8)).toEqual([
      'start@0',
      'start@4',
      'fault@10',
      'heal@18',
      'end@30',
    ]);
    expect(timeline('partition-c', 2)).toEqual([
      'start@0',
      'start@4',
      'fault@10',
      'heal@12',
      'end@24',
    ]);
    expect(timeline('partition-c', 60)).toEqual([
      'start@0',
      'start@4',
      'fault@10',
      'heal@70',
      'end@82',
    ]);
    expect(timeline('partition-c-clean', 3)).toEqual([
      'start@0',
      'start@1',
      'start@5',
      'fault@11',
      'heal@14',
      'end@26',
    ]);
    for (const name of ['quiet-partition', 'dm-crypt'])
      expect(timeline(name, 2)).toContain('heal@12');
    // Scenarios with a partition of their own length keep it.
    for (const name of ['long-partition', 'memalloc-dynamic', 'flapping', 'c-restart'])
      expect(timeline(name, 2)).toEqual(timeline(name, 8));
  });

  it('a scenario file can tie a heal to the knob too', () => {
    const s = validateScenario({
      name: 'mine',
      description: 'a partition whose length is a knob',
      timeline: [
        { at: 5, do: 'fault', target: 'c' },
        { at: 9, do: 'heal', target: 'c', length: 'fault.durationSeconds' },
        { at: 20, do: 'end' },
      ],
    });
    const knobs = { ...defaultKnobs(), 'fault.durationSeconds': 1.5 };
    expect(resolveTimeline(s.timeline, knobs).map((a) => a.at)).toEqual([5, 6.5, 17.5]);
    expect(() =>
      validateScenario({
        name: 'bad',
        description: 'x',
        timeline: [
          { at: 1, do: 'heal', target: 'c', length: 'fault.forSeconds' },
          { at: 2, do: 'end' },
        ],
      }),
    ).toThrow(/timeline.0.length/);
  });

  it('nofail-livelock never heals and sets service.nofail', () => {
    const s = loadScenario('nofail-livelock');
    expect(s.timeline.some((a) => a.do === 'heal')).toBe(false);
    expect(s.knobs['service.nofail']).toBe(true);
  });
});

describe('scenario files', () => {
  it('loads a JSON file, with the defaults filled in', () => {
    const raw = base();
    delete raw.knobs;
    const s = loadScenario(file('ok.json', JSON.stringify(raw)));
    expect(s.name).toBe('tmp-partition');
    expect(s.knobs).toEqual({});
    expect(s.stallWindowSeconds).toBe(10);
    expect(s.timeline).toHaveLength(5);
  });

  it('loads a YAML file (.yaml and .yml) to the same scenario as its JSON', () => {
    const yaml = [
      'name: tmp-partition',
      'description: a partition of C for the tests',
      'knobs:',
      '  mem.ramMiB: 128',
      '  flood.rate: 500',
      'stallWindowSeconds: 7',
      'timeline:',
      '  - { at: 0, do: start, workload: hog }',
      '  - { at: 2, do: start, workload: flood }',
      '  - { at: 5, do: fault, target: c, mode: blackhole }',
      '  - { at: 9, do: heal, target: c }',
      '  - { at: 20, do: end }',
      '',
    ].join('\n');
    const fromYaml = loadScenario(file('ok.yaml', yaml));
    const fromYml = loadScenario(file('ok.yml', yaml));
    const fromJson = loadScenario(
      file('same.json', JSON.stringify({ ...base(), stallWindowSeconds: 7 })),
    );
    expect(fromYaml).toEqual(fromJson);
    expect(fromYml).toEqual(fromJson);
    expect(fromYaml.knobs).toEqual({ 'mem.ramMiB': 128, 'flood.rate': 500 });
    expect(fromYaml.stallWindowSeconds).toBe(7);
  });
});

describe('scenario errors name the field', () => {
  it('an unknown top-level key', () => {
    const e = scenarioError(() => validateScenario({ ...base(), bogus: 1 }, 'src'));
    expect(e.field).toBe('src: bogus');
    expect(e.message).toMatch(/unknown key/);
  });

  it('an unknown key inside an action (timeline.2.bogus)', () => {
    const raw = base();
    raw.timeline[2] = { ...raw.timeline[2], bogus: true };
    const e = scenarioError(() => validateScenario(raw, 'src'));
    expect(e.field).toContain('timeline.2.bogus');
    expect(e.message).toMatch(/unknown key/);
  });

  it('an action whose `do` is not one of the actions', () => {
    const raw = base();
    raw.timeline[1] = { at: 2, do: 'explode' };
    const e = scenarioError(() => validateScenario(raw, 'src'));
    expect(e.field).toContain('timeline.1.do');
  });

  it('an action with a bad target', () => {
    const raw = base();
    raw.timeline[3] = { at: 9, do: 'heal', target: 'd' };
    expect(scenarioError(() => validateScenario(raw, 'src')).field).toContain('timeline.3.target');
  });

  it('a knob that does not exist (knobs.mem.ramMib)', () => {
    const e = scenarioError(() => validateScenario({ ...base(), knobs: { 'mem.ramMib': 128 } }));
    expect(e.field).toContain('knobs.mem.ramMib');
    expect(e.message).toMatch(/unknown knob/);
  });

  it('a knob with a bad value (knobs.flood.rate = -1), naming the value', () => {
    const e = scenarioError(() => validateScenario({ ...base(), knobs: { 'flood.rate': -1 } }));
    expect(e.field).toContain('knobs.flood.rate');
    expect(e.message).toMatch(/-1/);
  });

  it('a knob of the wrong type (knobs.flood.ignoreWindow = "yes")', () => {
    const e = scenarioError(() =>
      validateScenario({ ...base(), knobs: { 'flood.ignoreWindow': 'yes' } }),
    );
    expect(e.field).toContain('knobs.flood.ignoreWindow');
  });

  it('a timeline out of order (timeline.3.at)', () => {
    const raw = base();
    raw.timeline[3] = { at: 4, do: 'heal', target: 'c' };
    const e = scenarioError(() => validateScenario(raw, 'src'));
    expect(e.field).toContain('timeline.3.at');
    expect(e.message).toMatch(/4 comes before the previous action \(5\)/);
  });

  it('a negative time', () => {
    const raw = base();
    raw.timeline[0] = { at: -1, do: 'start', workload: 'hog' };
    expect(scenarioError(() => validateScenario(raw, 'src')).field).toContain('timeline.0.at');
  });

  it('a timeline without a final end, or with an end before the last action', () => {
    const raw = base();
    raw.timeline.pop();
    const noEnd = scenarioError(() => validateScenario(raw, 'src'));
    expect(noEnd.field).toBe('src: timeline');
    expect(noEnd.message).toMatch(/end/);
    const early = base();
    early.timeline.splice(3, 0, { at: 8, do: 'end' });
    expect(scenarioError(() => validateScenario(early, 'src')).field).toBe('src: timeline');
  });

  it('an empty timeline', () => {
    expect(scenarioError(() => validateScenario({ ...base(), timeline: [] }, 'src')).field).toBe(
      'src: timeline',
    );
  });

  it('a scenario that is not an object', () => {
    expect(scenarioError(() => validateScenario('partition-c', 'src')).field).toBe(
      'src: (top level)',
    );
  });

  it('a bad field in a file names the file and the path', () => {
    const raw = base();
    raw.timeline[2] = { ...raw.timeline[2], bogus: true };
    const path = file('bad-key.yaml', JSON.stringify(raw));
    const e = scenarioError(() => loadScenario(path));
    expect(e.field).toBe(`${path}: timeline.2.bogus`);
  });

  it('a .json file that is not JSON', () => {
    const path = file('broken.json', '{ "name": "x", ');
    const e = scenarioError(() => loadScenario(path));
    expect(e.field).toContain(path);
    expect(e.message).toMatch(/not valid JSON/);
  });

  it('a .yaml file that is not YAML', () => {
    const path = file('broken.yaml', 'name: [unclosed\n  - : :\n');
    const e = scenarioError(() => loadScenario(path));
    expect(e.field).toContain(path);
    expect(e.message).toMatch(/not valid YAML/);
  });

  it('a missing file names --scenario and the reason', () => {
    const e = scenarioError(() => loadScenario(join(dir, 'nowhere.json')));
    expect(e.field).toBe('--scenario');
    expect(e.message).toMatch(/cannot read .*nowhere\.json: ENOENT/);
  });

  it('a name that is neither a built-in nor a .json/.yaml file', () => {
    const txt = file('scenario.txt', JSON.stringify(base()));
    for (const name of ['partition-d', txt]) {
      const e = scenarioError(() => loadScenario(name));
      expect(e.field).toBe('--scenario');
      expect(e.message).toMatch(/neither a built-in \(partition-c, .*\) nor a \.json\/\.yaml file/);
    }
  });
});
