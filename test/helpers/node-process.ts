// Spawns a real node process (`node --import tsx nodes/main.ts --role X ...`) and resolves
// once its ready line is on stdout (an event, never a sleep). Every process spawned here
// is tracked: stopAllNodes() in a test's afterEach kills whatever is still running.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ReadyLine } from '../../nodes/node-shell.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../nodes/main.ts', import.meta.url));
/** stderr kept per process for failure messages (the tail). */
const STDERR_KEEP = 64 * 1024;

export interface NodeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface NodeProcess {
  readonly ready: ReadyLine;
  readonly child: ChildProcess;
  /** Settles once the process has exited. */
  readonly exited: Promise<NodeExit>;
  /** The tail of what the process wrote to stderr (its logs). */
  stderr(): string;
  /**
   * Sends `signal` (SIGTERM by default) and waits for the exit; SIGKILL after `graceMs`
   * if it is still running. Resolves at once with the exit when it already exited.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<NodeExit>;
}

export interface SpawnOptions {
  /** Deadline for the ready line; the process is killed when it passes (default 30 s). */
  readonly readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort if a test runner worker exits without teardown.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/**
 * Starts `node nodes/main.ts --role <role> ...args` with exactly `env` and resolves with
 * its parsed ready line. Rejects (after killing it) when the process exits, prints
 * something other than a ready line, or misses the deadline; the error carries stderr.
 */
export function spawnNode(
  role: 'a' | 'b' | 'c',
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--role', role, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let stderrText = '';
  // Always drained: a node logs synchronously to stderr and would block on a full pipe.
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderrText = (stderrText + s).slice(-STDERR_KEEP);
  });
  const exited = new Promise<NodeExit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<NodeExit> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return exited;
  };

  return new Promise<NodeProcess>((resolve, reject) => {
    let settled = false;
    const lines = createInterface({ input: child.stdout! });
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      lines.close();
      child.kill('SIGKILL');
      reject(new Error(`node ${role} ${why}\n--- stderr ---\n${stderrText}`));
    };
    const deadline = setTimeout(
      () => fail(`printed no ready line within ${options.readyTimeoutMs ?? 30_000} ms`),
      options.readyTimeoutMs ?? 30_000,
    );
    child.once('error', (err) => fail(`could not be spawned: ${err.message}`));
    void exited.then((e) =>
      fail(`exited before its ready line (code ${e.code}, signal ${e.signal})`),
    );
    lines.once('line', (line) => {
      if (settled) return;
      let ready: ReadyLine;
      try {
        ready = JSON.parse(line) as ReadyLine;
      } catch {
        fail(`printed a line that is not JSON: ${line}`);
        return;
      }
      if (ready.ready !== true || ready.node !== role) {
        fail(`printed an unexpected first line: ${line}`);
        return;
      }
      settled = true;
      clearTimeout(deadline);
      // Keep stdout drained; a node prints nothing more, but a full pipe would block it.
      child.stdout?.resume();
      resolve({ ready, child, exited, stderr: () => stderrText, stop });
    });
  });
}

/** Kills (SIGKILL) every node spawned by this module that is still running, and waits. */
export async function stopAllNodes(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
