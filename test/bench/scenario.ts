// Scenario benchmark: the wall time of the canonical scenario (`partition-c` under
// `vanilla`) through the real CLI, `swapnet run --json`, from spawn to exit: start-up of
// the three processes, the 40 s timeline, the verdict and the shutdown.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ScenarioResult {
  readonly name: string;
  readonly wallSeconds: number;
}

const BIN = fileURLToPath(new URL('../../orchestrator/bin.mjs', import.meta.url));

export async function benchScenario(
  name = 'partition-c',
  policy = 'vanilla',
  log: (line: string) => void = () => {},
): Promise<ScenarioResult> {
  // A state directory of its own: `swapnet down` elsewhere never touches this run.
  const state = mkdtempSync(join(tmpdir(), 'swapnet-bench-state-'));
  try {
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--scenario', name, '--policy', policy, '--json'],
      { env: { ...process.env, SWAPNET_STATE_DIR: state }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr
      .setEncoding('utf8')
      .on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const wallSeconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`swapnet run exited ${code}\n${stderr}`);
    const result = JSON.parse(stdout) as { verdict: string; durationSeconds: number };
    log(
      `scenario: ${name} under ${policy}: ${result.verdict}, timeline ${result.durationSeconds} s, wall ${wallSeconds.toFixed(1)} s`,
    );
    return { name, wallSeconds: Math.round(wallSeconds * 10) / 10 };
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}
