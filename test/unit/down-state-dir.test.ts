// `swapnet down` over a state directory that holds more than state files: the default
// Prometheus targets file lives there too (an array), and a file may be cut short. Neither
// is a topology: the targets file is left to its owner, a broken file is removed.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { downAll } from '../../orchestrator/topology.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('downAll', () => {
  it('leaves a targets file alone, removes a broken state file, counts only topologies', async () => {
    dir = mkdtempSync(join(tmpdir(), 'swapnet-down-test-'));
    const targets = join(dir, 'prometheus-targets.json');
    writeFileSync(targets, JSON.stringify([{ targets: ['127.0.0.1:1'], labels: { role: 'a' } }]));
    const broken = join(dir, 'cut.json');
    writeFileSync(broken, '{"id": "abc", "nod');
    const work = mkdtempSync(join(tmpdir(), 'swapnet-down-work-'));
    const dead = join(dir, 'dead.json');
    // A topology whose CLI and nodes are long gone (pid 2^22 + 1 is above pid_max).
    writeFileSync(
      dead,
      JSON.stringify({
        id: 'dead',
        token: 't',
        cliPid: 4_194_305,
        startedAt: new Date(0).toISOString(),
        workDir: work,
        nodes: [{ role: 'a', pid: 4_194_306, http: '127.0.0.1:1', listen: {} }],
      }),
    );
    const r = await downAll(dir, 100);
    expect(r).toEqual({ topologies: 1, killed: 0 });
    expect(existsSync(targets)).toBe(true);
    expect(existsSync(broken)).toBe(false);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(work)).toBe(false);
  });
});
