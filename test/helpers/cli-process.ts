// The `swapnet` bin as a real, possibly long-running process for end-to-end tests: its
// stdout and stderr read line by line (events to wait on), its exit as a promise, its
// wall time. Every process spawned here is tracked: killAllCli() in a test's teardown
// kills whatever is still running, and nodeProcessesOf() finds node processes a state
// directory's topologies left behind, so a file's checks ignore other runs on the machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BIN } from './cli.ts';

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Settles once the process has exited (and its output streams have closed). */
  readonly exited: Promise<CliExit>;
  stdout(): string;
  stderr(): string;
  /**
   * Resolves with the first line on `stream` (past or future) that matches; rejects
   * when the process exits first or `timeoutMs` passes, with what it wrote.
   */
  line(stream: 'stdout' | 'stderr', match: RegExp, timeoutMs?: number): Promise<string>;
  /** Seconds since the spawn (wall clock). */
  elapsedSeconds(): number;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallSeconds: number;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* gone already */
  }
}

/**
 * Starts `node orchestrator/bin.mjs ...argv` with exactly `env`, in a process group of
 * its own (so teardown can kill it and anything it started that stayed in the group).
 */
export function spawnCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliProcess {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, ...argv], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start swapnet ${argv.join(' ')}`);
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort if the test worker exits without its teardown.
    process.once('exit', () => {
      for (const c of running) if (c.pid !== undefined) killGroup(c.pid, 'SIGKILL');
    });
  }
  const text = { stdout: '', stderr: '' };
  const lines: Record<'stdout' | 'stderr', string[]> = { stdout: [], stderr: [] };
  const waiters = new Set<() => void>();
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = child[name]!;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text[name] += chunk));
    createInterface({ input: stream }).on('line', (l) => {
      lines[name].push(l);
      for (const w of [...waiters]) w();
    });
  }
  // 'close' rather than 'exit': every byte the process wrote has been read by then.
  const exited = new Promise<CliExit>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    });
  });
  let done = false;
  void exited.then(() => (done = true));

  const line = (stream: 'stdout' | 'stderr', match: RegExp, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const hit = lines[stream].find((l) => match.test(l));
        if (hit !== undefined) finish(() => resolve(hit));
        else if (done)
          finish(() =>
            reject(
              new Error(
                `swapnet ${argv[0]} exited before printing ${match} on ${stream}\n` +
                  `stdout: ${text.stdout.slice(-2000)}\nstderr: ${text.stderr.slice(-2000)}`,
              ),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `swapnet ${argv[0]} printed no ${match} on ${stream} within ${timeoutMs} ms\n` +
                  `stdout: ${text.stdout.slice(-2000)}\nstderr: ${text.stderr.slice(-2000)}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  return {
    child,
    pid: child.pid,
    exited,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    line,
    elapsedSeconds: () => (performance.now() - t0) / 1000,
  };
}

/**
 * Runs `swapnet ...argv` to its end and returns what it printed, its exit and its wall
 * time; kills it (SIGKILL to its group) if it outlives `timeoutMs`.
 */
export async function runCliProcess(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<CliResult> {
  const p = spawnCli(argv, env);
  const timer = setTimeout(() => killGroup(p.pid, 'SIGKILL'), timeoutMs);
  const exit = await p.exited;
  clearTimeout(timer);
  return { ...exit, stdout: p.stdout(), stderr: p.stderr(), wallSeconds: p.elapsedSeconds() };
}

/** Kills (SIGKILL, whole process group) every CLI process still running and waits for it. */
export async function killAllCli(): Promise<void> {
  const left = [...running];
  await Promise.all(
    left.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          if (c.pid !== undefined) killGroup(c.pid, 'SIGKILL');
        }),
    ),
  );
}

/**
 * The pids of live swapnet node processes (cmdline contains nodes/main.ts) started under
 * `stateDir` (their environment has SWAPNET_STATE_DIR=stateDir, inherited from the CLI).
 */
export function nodeProcessesOf(stateDir: string): number[] {
  const mark = `SWAPNET_STATE_DIR=${stateDir}`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('nodes/main.ts')) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(mark)) out.push(Number(entry));
    } catch {
      /* exited while we looked, or not ours to read */
    }
  }
  return out;
}

/** Whether `pid` names a process (a zombie included): process.kill(pid, 0) does not throw. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills (SIGKILL) every node process left behind under `stateDir`. */
export function killNodesOf(stateDir: string): void {
  for (const pid of nodeProcessesOf(stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Polls `probe` every 100 ms until it returns a value other than undefined, and returns
 * it; rejects naming `what` (and the last error the probe threw) once `timeoutMs` passes.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
