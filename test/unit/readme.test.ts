// The README stays true: every knob, every metric a node or the CLI exports, every
// command, scenario, policy and fault mode is documented there.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KNOB_KEYS } from '../../nodes/knobs.ts';
import { BUILTIN_SCENARIOS } from '../../orchestrator/builtin-scenarios.ts';
import { FAULT_MODES } from '../../orchestrator/commands/list.ts';
import { POLICIES } from '../../orchestrator/policies.ts';
import { runCli } from '../helpers/cli.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(ROOT, dir, f), 'utf8'));
}

describe('README', () => {
  it('documents every knob', () => {
    const missing = KNOB_KEYS.filter((k) => !README.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });

  it('documents every metric the nodes and the CLI export', () => {
    const names = new Set<string>();
    for (const text of [...sources('nodes'), ...sources('orchestrator')]) {
      for (const m of text.matchAll(/['"`](swapnet_[a-z_]+)['"`]/g)) names.add(m[1] as string);
    }
    expect(names.size).toBeGreaterThan(40);
    const missing = [...names].filter((n) => !README.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });

  it('documents every command, built-in scenario, policy and fault mode', async () => {
    const help = (await runCli(['--help'])).stdout;
    const commands = [...help.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1] as string);
    expect(commands.length).toBeGreaterThanOrEqual(8);
    expect(commands.filter((c) => !README.includes(`swapnet ${c}`))).toEqual([]);
    expect(
      BUILTIN_SCENARIOS.map((s) => s.name).filter((n) => !README.includes(`\`${n}\``)),
    ).toEqual([]);
    expect(POLICIES.map((p) => p.name).filter((n) => !README.includes(`\`${n}\``))).toEqual([]);
    expect(FAULT_MODES.map(([m]) => m).filter((m) => !README.includes(`\`${m}\``))).toEqual([]);
  });
});
