// --engine on the CLI: an engine that does not exist exits 2 naming the flag and the
// engines there are, before anything starts; `up` is real processes only and refuses the
// simulation with the reason.
import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../orchestrator/engine.ts';
import { runCli } from '../helpers/cli.ts';

describe('swapnet --engine', () => {
  it.each([['run'], ['compare'], ['up']])(
    '`%s --engine bogus` exits 2 naming --engine and the engines',
    async (command) => {
      const r = await runCli([command, '--engine', 'bogus', '--json']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`--engine: "bogus" is not an engine (${ENGINES.join(', ')})`);
    },
  );

  it('`up --engine sim` is refused with exit 2 and says why (real processes for Grafana)', async () => {
    const r = await runCli(['up', '--engine', 'sim', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--engine: "sim" is not available for up/);
    expect(r.stderr).toMatch(/real processes/);
    expect(r.stderr).toMatch(/Grafana/);
    expect(r.stderr).toMatch(/swapnet run --engine sim/);
  });
});
