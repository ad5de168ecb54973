// Spawning a topology: C, then A pointed at C, then (when asked) B pointed at A, each a
// real process in its own process group with an IPC channel, ready when its ready line
// arrives on stdout. A token goes in the environment. The topology is recorded in a
// state file so that `swapnet down` can clean up after a CLI that was killed, and a
// node whose parent dies exits by itself. Stopping is reverse order, SIGTERM then
// SIGKILL; no process and no port outlives stop().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, SwapnetError } from '../reserve/errors.ts';
import type { Knobs } from '../nodes/knobs.ts';
import type { NodeRole } from '../nodes/node-args.ts';
import type { ReadyLine } from '../nodes/node-shell.ts';
import { createNetns, removeNetns, setNetnsLink, type NetnsLink } from './netns.ts';

const MAIN = fileURLToPath(new URL('../nodes/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** Where running topologies are recorded (SWAPNET_STATE_DIR or a per-user temp dir). */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWAPNET_STATE_DIR ?? join(tmpdir(), `swapnet-${process.getuid?.() ?? 'user'}`);
}

export class NodeFailedError extends SwapnetError {
  constructor(
    readonly role: NodeRole,
    message: string,
    readonly stderrTail: string,
  ) {
    super(ERROR_CODES.nodeFailed, `node ${role}: ${message}`);
  }
}

export interface NodeHandle {
  readonly role: NodeRole;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ready: ReadyLine;
  /** Base URL of the node's HTTP side (http://host:port). */
  readonly httpUrl: string;
  /** Settles when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The tail of the node's log (stderr). */
  stderr(): string;
}

export interface TopologyOptions {
  readonly knobs: Knobs;
  readonly seed: number;
  /** Start B right away (default true); otherwise startFlood() starts it. */
  readonly startB?: boolean;
  /** Extra environment for the nodes (log level...). */
  readonly env?: NodeJS.ProcessEnv;
  /** A's hog and reader: start at once ('auto', default) or by control ('manual'). */
  readonly workloads?: 'auto' | 'manual';
  /** Run C in a network namespace of its own (the netns fault); Linux, root. */
  readonly netns?: boolean;
  /** Deadline for each ready line. */
  readonly readyTimeoutMs?: number;
  /** Called with each line a node logs at warn level or above (already parsed). */
  readonly onLog?: (role: NodeRole, entry: Record<string, unknown>) => void;
}

export interface StateFile {
  readonly id: string;
  readonly token: string;
  readonly cliPid: number;
  readonly startedAt: string;
  readonly workDir: string;
  nodes: { role: NodeRole; pid: number; http: string; listen: Record<string, string> }[];
  targetsFile?: string;
  /** Faults injected with `swapnet fault`, active now. */
  faults?: { target: NodeRole; mode: string; since: string }[];
  /** C's network namespace, when the topology uses the netns fault. */
  netns?: NetnsLink;
  /**
   * A uml engine rig (orchestrator/uml/rig.ts): its namespace and the process groups it
   * started (the guest, C, B's flood), each killed whole by `down`.
   */
  uml?: { namespace: string; groups: number[] };
}

const STDERR_KEEP = 32 * 1024;

export class Topology {
  readonly id = randomBytes(6).toString('hex');
  readonly token = randomBytes(24).toString('base64url');
  readonly workDir: string;
  readonly store: string;
  private readonly nodes = new Map<NodeRole, NodeHandle>();
  private readonly statePath: string;
  private state: StateFile;
  private stopping = false;

  private constructor(private readonly opts: TopologyOptions) {
    this.workDir = mkdtempSync(join(tmpdir(), 'swapnet-run-'));
    this.store = join(this.workDir, 'swap.store');
    mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
    this.statePath = join(stateDir(), `${this.id}.json`);
    this.state = {
      id: this.id,
      token: this.token,
      cliPid: process.pid,
      startedAt: new Date().toISOString(),
      workDir: this.workDir,
      nodes: [],
    };
    this.saveState();
  }

  /** Starts C and A (and B unless startB is false); stops everything if any node fails. */
  static async start(opts: TopologyOptions): Promise<Topology> {
    const t = new Topology(opts);
    try {
      if (opts.netns) {
        t.state.netns = createNetns(t.id);
        t.saveState();
      }
      const ns = t.state.netns;
      await t.spawn('c', [
        '--store',
        t.store,
        ...(ns ? ['--listen', `${ns.nsAddress}:0`, '--http', `${ns.nsAddress}:0`] : []),
      ]);
      await t.spawn('a', [
        '--peer',
        t.listenOf('c', 'swap'),
        '--workloads',
        opts.workloads ?? 'auto',
      ]);
      if (opts.startB ?? true) await t.spawn('b', ['--peer', t.listenOf('a', 'service')]);
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  node(role: NodeRole): NodeHandle | undefined {
    return this.nodes.get(role);
  }

  /** Every running node. */
  get handles(): NodeHandle[] {
    return [...this.nodes.values()];
  }

  listenOf(role: NodeRole, name: string): string {
    const addr = this.nodes.get(role)?.ready.listen[name];
    if (!addr) throw new NodeFailedError(role, `has no ${name} listener`, '');
    return addr;
  }

  /** Starts B (the flood). */
  async startFlood(): Promise<void> {
    if (!this.nodes.has('b')) await this.spawn('b', ['--peer', this.listenOf('a', 'service')]);
  }

  /** Stops B (the flood). */
  async stopFlood(): Promise<void> {
    const b = this.nodes.get('b');
    if (b) await this.stopNode(b);
  }

  /** Kills a node with SIGKILL and starts it again on the same addresses (and store). */
  async restart(role: NodeRole): Promise<NodeHandle> {
    const old = this.nodes.get(role);
    if (!old) throw new NodeFailedError(role, 'is not running', '');
    const listen = old.ready.listen;
    const extra: string[] = [];
    if (role === 'c') extra.push('--store', this.store, '--listen', listen.swap as string);
    if (role === 'a') {
      extra.push('--peer', this.listenOf('c', 'swap'), '--listen', listen.service as string);
      extra.push('--workloads', this.opts.workloads ?? 'auto');
    }
    if (role === 'b') extra.push('--peer', this.listenOf('a', 'service'));
    extra.push('--http', listen.http as string);
    await this.stopNode(old, 'SIGKILL');
    return this.spawn(role, extra);
  }

  /** The netns fault: C's link down (partition) or up (heal). */
  netnsLink(up: boolean): void {
    if (!this.state.netns)
      throw new NodeFailedError(
        'c',
        'is not in a network namespace (start with fault.mode=netns)',
        '',
      );
    setNetnsLink(this.state.netns, up);
  }

  /** Sends SIGSTOP (pause) or SIGCONT (resume) to a node's process group. */
  signal(role: NodeRole, sig: 'SIGSTOP' | 'SIGCONT'): void {
    const n = this.nodes.get(role);
    if (n) killGroup(n.pid, sig);
  }

  /** POST /control/<action> on a node, with the token. */
  async control(role: NodeRole, action: string, body: unknown = {}): Promise<unknown> {
    const n = this.nodes.get(role);
    if (!n) throw new NodeFailedError(role, 'is not running', '');
    const res = await fetch(`${n.httpUrl}/control/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-swapnet-token': this.token },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const json = (await res.json()) as unknown;
    if (!res.ok)
      throw new NodeFailedError(
        role,
        `control ${action} refused (${res.status}): ${JSON.stringify(json)}`,
        n.stderr(),
      );
    return json;
  }

  /** GET /status of a node (undefined if it does not answer within the timeout). */
  async status<T = unknown>(role: NodeRole, timeoutMs = 2000): Promise<T | undefined> {
    const n = this.nodes.get(role);
    if (!n) return undefined;
    try {
      const res = await fetch(`${n.httpUrl}/status`, { signal: AbortSignal.timeout(timeoutMs) });
      return (await res.json()) as T;
    } catch {
      return undefined;
    }
  }

  /** This topology's state file. */
  get stateFile(): string {
    return this.statePath;
  }

  /** Records the Prometheus file_sd targets file path in the state (for `down`). */
  noteTargetsFile(path: string): void {
    this.state.targetsFile = path;
    this.saveState();
  }

  /** Stops every node (B, A, C: reverse order of start) and removes the work dir and state. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const role of ['b', 'a', 'c'] as const) {
      const n = this.nodes.get(role);
      if (n) await this.stopNode(n);
    }
    if (this.state.netns) removeNetns(this.state.netns);
    rmSync(this.workDir, { recursive: true, force: true });
    try {
      unlinkSync(this.statePath);
    } catch {
      /* already gone */
    }
  }

  private async stopNode(n: NodeHandle, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.nodes.delete(n.role);
    this.state.nodes = this.state.nodes.filter((x) => x.pid !== n.pid);
    this.saveState();
    if (n.child.exitCode !== null || n.child.signalCode !== null) return;
    killGroup(n.pid, 'SIGCONT'); // a paused node cannot handle SIGTERM
    killGroup(n.pid, signal);
    const timer = setTimeout(() => killGroup(n.pid, 'SIGKILL'), 5000);
    await n.exited;
    clearTimeout(timer);
    // Anything left in the group (nothing, normally) goes too.
    killGroup(n.pid, 'SIGKILL');
  }

  private spawn(role: NodeRole, extra: readonly string[]): Promise<NodeHandle> {
    const args = [
      '--import',
      TSX,
      MAIN,
      '--role',
      role,
      '--knobs',
      JSON.stringify(this.opts.knobs),
      '--seed',
      String(this.opts.seed),
      ...extra,
    ];
    // C of a netns topology runs inside its namespace (ip netns exec execs node itself).
    const ns = role === 'c' ? this.state.netns : undefined;
    const [cmd, cmdArgs] = ns
      ? ['ip', ['netns', 'exec', ns.namespace, process.execPath, ...args]]
      : [process.execPath, args];
    const child = spawn(cmd, cmdArgs, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...this.opts.env, SWAPNET_TOKEN: this.token },
    });
    child.channel?.unref();
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    const logLines = createInterface({ input: child.stderr! });
    logLines.on('line', (line) => {
      stderr = (stderr + line + '\n').slice(-STDERR_KEEP);
      if (!this.opts.onLog) return;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry.level === 'number' && entry.level >= 40) this.opts.onLog(role, entry);
      } catch {
        /* not a log line */
      }
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    return new Promise<NodeHandle>((resolve, reject) => {
      let settled = false;
      const lines = createInterface({ input: child.stdout! });
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        lines.close();
        if (child.pid) killGroup(child.pid, 'SIGKILL');
        reject(new NodeFailedError(role, why, stderr.slice(-4000)));
      };
      const deadline = setTimeout(
        () => fail('printed no ready line in time'),
        this.opts.readyTimeoutMs ?? 30_000,
      );
      child.once('error', (err) => fail(`could not be started: ${err.message}`));
      void exited.then((e) =>
        fail(`exited before it was ready (code ${e.code}, signal ${e.signal})`),
      );
      lines.once('line', (line) => {
        if (settled) return;
        let ready: ReadyLine;
        try {
          ready = JSON.parse(line) as ReadyLine;
        } catch {
          return fail(`printed something other than its ready line: ${line.slice(0, 200)}`);
        }
        if (!ready.ready || ready.node !== role || !child.pid)
          return fail(`printed an unexpected ready line: ${line.slice(0, 200)}`);
        settled = true;
        clearTimeout(deadline);
        child.stdout?.resume();
        const handle: NodeHandle = {
          role,
          child,
          pid: child.pid,
          ready,
          httpUrl: `http://${ready.listen.http}`,
          exited,
          stderr: () => stderr,
        };
        this.nodes.set(role, handle);
        this.state.nodes.push({
          role,
          pid: child.pid,
          http: ready.listen.http as string,
          listen: { ...ready.listen },
        });
        this.saveState();
        resolve(handle);
      });
    });
  }

  private saveState(): void {
    writeFileSync(this.statePath, JSON.stringify(this.state, null, 2), { mode: 0o600 });
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* gone already */
  }
}

/** Whether `pid` is alive and is a swapnet node (guards against reused pids). */
function isSwapnetNode(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('nodes/main.ts');
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) still answers kill(pid, 0).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ', 1)[0] !== 'Z';
  } catch {
    return true; // no /proc: kill(pid, 0) is all there is
  }
}

async function waitWhile(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

export interface DownReport {
  readonly topologies: number;
  /** Node processes that were running when `down` began (all stopped now). */
  readonly killed: number;
}

/**
 * `swapnet down`: stops every recorded topology (its live CLI first, then any node left:
 * SIGTERM, then SIGKILL after a grace period), removes its files and state. Safe to run
 * when nothing is running.
 */
export async function downAll(dir = stateDir(), graceMs = 3000): Promise<DownReport> {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return { topologies: 0, killed: 0 };
  }
  let killed = 0;
  let stopped = 0;
  for (const f of files) {
    const path = join(dir, f);
    let state: StateFile;
    try {
      state = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
    } catch {
      rmSync(path, { force: true });
      continue;
    }
    // Not a state file: the default Prometheus targets file lives here too.
    if (!isStateFile(state)) continue;
    stopped++;
    const running = state.nodes.map((n) => n.pid).filter((pid) => isSwapnetNode(pid));
    if (state.cliPid !== process.pid && isAlive(state.cliPid)) {
      // A live CLI still owns this topology (a `swapnet up`, a run): ask it to stop first.
      // It stops its nodes itself, in order, and exits as stopped; killing its nodes under
      // it would look to it like a node failure (exit 3).
      try {
        process.kill(state.cliPid, 'SIGTERM');
      } catch {
        /* gone */
      }
      await waitWhile(() => isAlive(state.cliPid) || running.some(isAlive), graceMs);
    }
    const pids = running.filter(isAlive);
    for (const pid of pids) {
      killGroup(pid, 'SIGCONT');
      killGroup(pid, 'SIGTERM');
    }
    await waitWhile(() => pids.some(isAlive), graceMs);
    for (const pid of pids) if (isAlive(pid)) killGroup(pid, 'SIGKILL');
    // Every node running when `down` began, whoever ended it (its CLI, down, or itself).
    killed += running.length;
    if (state.targetsFile) rmSync(state.targetsFile, { force: true });
    if (state.netns) removeNetns(state.netns);
    if (state.uml) killed += removeUmlRig(state.uml);
    rmSync(state.workDir, { recursive: true, force: true });
    rmSync(path, { force: true });
  }
  return { topologies: stopped, killed };
}

function isStateFile(x: unknown): x is StateFile {
  const s = x as Partial<StateFile> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.id === 'string' &&
    typeof s.cliPid === 'number' &&
    typeof s.workDir === 'string' &&
    Array.isArray(s.nodes)
  );
}

/** Kills a uml rig's process groups and deletes its namespace; how many groups were alive. */
function removeUmlRig(uml: NonNullable<StateFile['uml']>): number {
  let alive = 0;
  for (const pgid of uml.groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
      alive++;
    } catch {
      /* gone */
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', uml.namespace], { stdio: 'ignore' });
  } catch {
    /* not there */
  }
  return alive;
}

/** Every recorded topology whose CLI is still alive (for `swapnet fault`, `up`'s metrics). */
export function liveTopologies(dir = stateDir()): { path: string; state: StateFile }[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: { path: string; state: StateFile }[] = [];
  for (const f of files) {
    const path = join(dir, f);
    try {
      const state = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
      if (isAlive(state.cliPid) && state.nodes.some((n) => isSwapnetNode(n.pid)))
        out.push({ path, state });
    } catch {
      /* unreadable: `down` removes it */
    }
  }
  return out;
}

/** Rewrites a state file (used by `swapnet fault` to record active faults). */
export function saveStateFile(path: string, state: StateFile): void {
  writeFileSync(path, JSON.stringify(state, null, 2), { mode: 0o600 });
}
