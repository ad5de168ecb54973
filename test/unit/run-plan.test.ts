// planRun: one knob set from defaults, then the scenario's knobs, then the era, then the
// policy, then --set (DESIGN.md section 6); and the policies as presets of valid knobs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICIES } from '../../orchestrator/policies.ts';
import { planRun } from '../../orchestrator/run-plan.ts';
import { checkKnob, defaultKnobs, isKnobKey, validateKnobs } from '../../nodes/knobs.ts';
import { ConfigError, ERROR_CODES } from '../../reserve/errors.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'swapnet-run-plan-test-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A scenario file that sets `knobs`. */
function scenarioWith(name: string, knobs: Record<string, unknown>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      name,
      description: 'sets knobs for the knob-order tests',
      knobs,
      timeline: [
        { at: 0, do: 'start', workload: 'hog' },
        { at: 1, do: 'end' },
      ],
    }),
  );
  return path;
}

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('planRun: the knob order', () => {
  let file: string;
  beforeAll(() => {
    file = scenarioWith('knob-order', {
      era: '2.6',
      'net.memallocSwapSocket': true,
      'vm.minFreeKbytes': 4096,
      'swap.queueDepth': 7,
    });
  });

  it('a scenario knob overrides the default', () => {
    const p = planRun({ scenario: file, policy: 'memalloc' });
    expect(defaultKnobs()['swap.queueDepth']).toBe(128);
    expect(p.knobs['swap.queueDepth']).toBe(7);
    expect(p.knobs.era).toBe('2.6');
    expect(p.era).toBe('2.6');
    // memalloc sets no vm.minFreeKbytes: the scenario's stays.
    expect(p.knobs['vm.minFreeKbytes']).toBe(4096);
  });

  it('--era overrides the scenario', () => {
    const p = planRun({ scenario: file, policy: 'memalloc', era: 'modern' });
    expect(p.era).toBe('modern');
    expect(p.knobs.era).toBe('modern');
  });

  it('the policy overrides the scenario', () => {
    const vanilla = planRun({ scenario: file, policy: 'vanilla' });
    expect(vanilla.knobs['net.memallocSwapSocket']).toBe(false);
    const minFree = planRun({ scenario: file, policy: 'min-free-20' });
    // 20% of the default 256 MiB, in kB.
    expect(minFree.knobs['vm.minFreeKbytes']).toBe(Math.floor(256 * 1024 * 0.2));
  });

  it('--set overrides the policy, the era and the scenario', () => {
    const p = planRun({
      scenario: file,
      policy: 'vanilla',
      era: '3.6',
      sets: ['net.memallocSwapSocket=true', 'era=modern', 'swap.queueDepth=9'],
    });
    expect(p.knobs['net.memallocSwapSocket']).toBe(true);
    expect(p.knobs.era).toBe('modern');
    expect(p.era).toBe('modern');
    expect(p.knobs['swap.queueDepth']).toBe(9);
  });

  it('the last --set of a key wins', () => {
    const p = planRun({
      scenario: 'partition-c',
      policy: 'vanilla',
      sets: ['swap.queueDepth=3', 'swap.queueDepth=5'],
    });
    expect(p.knobs['swap.queueDepth']).toBe(5);
  });

  it('defaults the era to modern and the seed to 1, and keeps a given seed', () => {
    const p = planRun({ scenario: 'partition-c', policy: 'vanilla' });
    expect(p.era).toBe('modern');
    expect(p.seed).toBe(1);
    expect(planRun({ scenario: 'partition-c', policy: 'vanilla', seed: 42 }).seed).toBe(42);
    expect(p.scenario.name).toBe('partition-c');
    expect(p.policy.name).toBe('vanilla');
  });
});

describe('policies', () => {
  it('include every policy DESIGN.md section 6 names', () => {
    const names = POLICIES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of [
      'vanilla',
      'min-free-20',
      'recursive-reclaim',
      'memalloc',
      'memalloc-dynamic',
      'nofail',
    ])
      expect(names).toContain(n);
    expect(names.filter((n) => n.startsWith('mempool-')).length).toBeGreaterThanOrEqual(3);
    expect(names.filter((n) => n.startsWith('memcg-')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(POLICIES.map((p) => p.name))(
    '%s applies to the defaults and sets only valid knobs',
    (name) => {
      const policy = POLICIES.find((p) => p.name === name)!;
      const defaults = defaultKnobs();
      const sets = policy.apply(defaults);
      expect(Object.keys(sets).length).toBeGreaterThan(0);
      for (const [key, value] of Object.entries(sets)) {
        expect(isKnobKey(key), `${name} sets unknown knob ${key}`).toBe(true);
        expect(() => checkKnob(key, value)).not.toThrow();
      }
      expect(() => validateKnobs({ ...defaults, ...sets })).not.toThrow();
      const plan = planRun({ scenario: 'partition-c', policy: name });
      expect(plan.knobs).toMatchObject(sets);
    },
  );

  describe('min-free-20 sets vm.minFreeKbytes to 20% of RAM', () => {
    it.each([
      [256, 52428],
      [1024, 209715],
    ])('%d MiB from the scenario: %d kB', (ramMiB, kb) => {
      const file = scenarioWith(`ram-${ramMiB}`, { 'mem.ramMiB': ramMiB });
      const p = planRun({ scenario: file, policy: 'min-free-20' });
      expect(p.knobs['mem.ramMiB']).toBe(ramMiB);
      expect(p.knobs['vm.minFreeKbytes']).toBe(kb);
    });

    it.each([
      [512, 104857],
      [4096, 838860],
    ])(
      'regression (policy computed before --set): --set mem.ramMiB=%d gives %d kB',
      (ramMiB, kb) => {
        const p = planRun({
          scenario: 'partition-c',
          policy: 'min-free-20',
          sets: [`mem.ramMiB=${ramMiB}`],
        });
        expect(p.knobs['mem.ramMiB']).toBe(ramMiB);
        expect(p.knobs['vm.minFreeKbytes']).toBe(kb);
      },
    );

    it('--set vm.minFreeKbytes still has the last word over the policy', () => {
      const p = planRun({
        scenario: 'partition-c',
        policy: 'min-free-20',
        sets: ['mem.ramMiB=1024', 'vm.minFreeKbytes=8192'],
      });
      expect(p.knobs['vm.minFreeKbytes']).toBe(8192);
    });
  });

  it('era 2.6 with memalloc resolves (the model, not the plan, refuses SOCK_MEMALLOC there)', () => {
    const p = planRun({ scenario: 'partition-c', policy: 'memalloc', era: '2.6' });
    expect(p.era).toBe('2.6');
    expect(p.knobs['net.memallocSwapSocket']).toBe(true);
    expect(p.knobs['vm.pfmemallocThrottle']).toBe(true);
  });
});

describe('planRun: errors name the flag', () => {
  it('an unknown policy names --policy and lists the policies', () => {
    const e = configError(() => planRun({ scenario: 'partition-c', policy: 'magic' }));
    expect(e.field).toBe('--policy');
    expect(e.code).toBe(ERROR_CODES.configInvalid);
    expect(e.message).toMatch(/"magic" is not a policy \(vanilla, min-free-20/);
  });

  it('an unknown era names --era and lists the eras', () => {
    const e = configError(() =>
      planRun({ scenario: 'partition-c', policy: 'vanilla', era: '4.0' }),
    );
    expect(e.field).toBe('--era');
    expect(e.message).toMatch(/"4.0" is not an era \(2\.6, 3\.6, modern\)/);
  });

  it('an unknown scenario names --scenario', () => {
    const e = configError(() => planRun({ scenario: 'nowhere', policy: 'vanilla' }));
    expect(e.field).toBe('--scenario');
    expect(e.code).toBe(ERROR_CODES.scenarioInvalid);
  });

  it('a bad --set key or value names the key', () => {
    const key = configError(() =>
      planRun({ scenario: 'partition-c', policy: 'vanilla', sets: ['mem.ramMib=512'] }),
    );
    expect(key.field).toBe('mem.ramMib');
    const value = configError(() =>
      planRun({ scenario: 'partition-c', policy: 'vanilla', sets: ['mem.ramMiB=5'] }),
    );
    expect(value.field).toBe('mem.ramMiB');
    expect(value.message).toMatch(/5 is not accepted/);
    const shape = configError(() =>
      planRun({ scenario: 'partition-c', policy: 'vanilla', sets: ['mem.ramMiB'] }),
    );
    expect(shape.message).toMatch(/expected key=value/);
  });
});
