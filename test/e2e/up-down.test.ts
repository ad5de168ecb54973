// `swapnet up`, `fault` and `down` through the real CLI. `up --json` prints one line once
// every node is ready and writes a Prometheus file_sd targets file (the three nodes and
// the CLI's own /metrics); `fault partition --target c --mode stall` stalls C (A's
// writeout stops completing, the CLI's swapnet_fault_active shows it) and `fault heal`
// clears it; Ctrl-C stops everything and exits 0. A CLI killed with SIGKILL leaves its
// topology recorded, and `swapnet down` then leaves no process, no file and no listening
// port behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  killAllCli,
  killNodesOf,
  nodeProcessesOf,
  pidExists,
  runCliProcess,
  spawnCli,
  waitFor,
  type CliProcess,
} from '../helpers/cli-process.ts';
import { parsePromText } from '../helpers/prom-text.ts';

const WORK = mkdtempSync(join(tmpdir(), 'swapnet-e2e-up-'));
// A state directory of this file's own: other runs on the machine cannot interfere.
const STATE_DIR = join(WORK, 'state');
mkdirSync(STATE_DIR);
const ENV = { ...process.env, SWAPNET_STATE_DIR: STATE_DIR };

afterAll(async () => {
  await killAllCli();
  killNodesOf(STATE_DIR);
  rmSync(WORK, { recursive: true, force: true });
});

interface UpLine {
  nodes: Record<string, { metricsUrl: string; listen: Record<string, string> }>;
  targetsFile: string;
}

interface RecordedState {
  workDir: string;
  targetsFile?: string;
  nodes: { role: string; pid: number; http: string }[];
}

interface AStatus {
  swap: { completed: number; pending: number; issued: number };
}

interface CStatus {
  fault: { active: { mode: string } | null };
}

/** The one topology recorded in the state directory. */
function recordedState(): RecordedState {
  const files = readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  expect(files).toHaveLength(1);
  return JSON.parse(readFileSync(join(STATE_DIR, files[0] as string), 'utf8')) as RecordedState;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

/** Whether anything still accepts connections at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections at `address` (host:port). */
function listening(address: string): Promise<boolean> {
  const m = /^(.+):(\d+)$/.exec(address);
  if (!m) throw new Error(`not a host:port: ${address}`);
  return new Promise((resolve) => {
    const s = net.connect({ host: m[1], port: Number(m[2]) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts `swapnet up --json` and resolves with its ready line once it is printed. */
async function up(targetsFile: string): Promise<{ cli: CliProcess; ready: UpLine }> {
  const cli = spawnCli(['up', '--json', '--targets-file', targetsFile], ENV);
  const line = await cli.line('stdout', /^\{/, 60_000);
  console.log(`swapnet up: ready line after ${cli.elapsedSeconds().toFixed(1)} s of wall time`);
  return { cli, ready: JSON.parse(line) as UpLine };
}

describe('swapnet up, fault, heal, Ctrl-C', () => {
  const targetsFile = join(WORK, 'targets', 'swapnet.json');
  let cli: CliProcess;
  let ready: UpLine;
  let state: RecordedState;
  let orchestratorMetrics: string;
  const aStatus = (): string => `http://${ready.nodes.a?.listen.http}/status`;
  const cStatus = (): string => `http://${ready.nodes.c?.listen.http}/status`;
  const faultActive = async (): Promise<number | undefined> =>
    parsePromText(await getText(orchestratorMetrics)).value('swapnet_fault_active', {
      target: 'c',
      mode: 'stall',
    });

  beforeAll(async () => {
    ({ cli, ready } = await up(targetsFile));
    state = recordedState();
  });

  it('prints one JSON line with every node (metricsUrl, listen) and the targets file', () => {
    expect(Object.keys(ready).sort()).toEqual(['nodes', 'targetsFile']);
    expect(ready.targetsFile).toBe(targetsFile);
    expect(Object.keys(ready.nodes).sort()).toEqual(['a', 'b', 'c']);
    for (const [role, node] of Object.entries(ready.nodes)) {
      expect(Object.keys(node).sort(), role).toEqual(['listen', 'metricsUrl']);
      expect(node.metricsUrl, role).toBe(`http://${node.listen.http}/metrics`);
      for (const addr of Object.values(node.listen)) expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(ready.nodes.a?.listen.service).toBeDefined();
    expect(ready.nodes.c?.listen.swap).toBeDefined();
    expect(cli.stdout().split('\n').filter(Boolean)).toHaveLength(1);
    // What `swapnet down` would need, recorded.
    expect(state.nodes.map((n) => n.role).sort()).toEqual(['a', 'b', 'c']);
    expect(state.targetsFile).toBe(targetsFile);
  });

  it('writes a valid file_sd targets file: a, b, c and the orchestrator', () => {
    const groups = JSON.parse(readFileSync(targetsFile, 'utf8')) as unknown;
    // file_sd: a list of { targets: ["host:port", ...], labels: { name: "value" } }.
    expect(Array.isArray(groups)).toBe(true);
    const list = groups as { targets: unknown; labels: unknown }[];
    expect(list).toHaveLength(4);
    for (const g of list) {
      expect(Object.keys(g).sort()).toEqual(['labels', 'targets']);
      expect(g.targets).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
      for (const [name, value] of Object.entries(g.labels as Record<string, unknown>)) {
        expect(name).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
        expect(name.startsWith('__')).toBe(false);
        expect(typeof value).toBe('string');
      }
    }
    const byRole = new Map(
      list.map((g) => [(g.labels as { role: string }).role, (g.targets as string[])[0]]),
    );
    expect([...byRole.keys()].sort()).toEqual(['a', 'b', 'c', 'orchestrator']);
    for (const role of ['a', 'b', 'c'])
      expect(byRole.get(role)).toBe(ready.nodes[role]?.listen.http);
    orchestratorMetrics = `http://${byRole.get('orchestrator')}/metrics`;
  });

  it('every metrics URL answers, the orchestrator one with swapnet_fault_active', async () => {
    for (const [role, node] of Object.entries(ready.nodes)) {
      const text = await getText(node.metricsUrl);
      expect(
        parsePromText(text).samples.some((s) => s.labels.node === role),
        role,
      ).toBe(true);
    }
    expect(await faultActive()).toBe(0);
    // The CLI's own port is read-only: it takes no control request, token or not.
    const post = await fetch(orchestratorMetrics.replace(/\/metrics$/, '/control/fault'), {
      method: 'POST',
      body: '{"mode":"stall"}',
      signal: AbortSignal.timeout(5000),
    });
    expect(post.status).toBe(404);
  });

  it('fault partition --target c --mode stall stalls C: writeout stops completing, the fault shows', async () => {
    // Writeout goes on before the fault.
    const before = await getJson<AStatus>(aStatus());
    await waitFor('A completing writeouts before the fault', async () => {
      const s = await getJson<AStatus>(aStatus());
      return s.swap.completed > before.swap.completed ? s : undefined;
    });

    const r = await runCliProcess(
      ['fault', 'partition', '--target', 'c', '--mode', 'stall'],
      ENV,
      30_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('partitioned c (stall)');

    const c = await getJson<CStatus>(cStatus());
    expect(c.fault.active?.mode).toBe('stall');
    expect(await faultActive()).toBe(1);

    // A: writeouts pending and not one completed over 2 s (C reads nothing, sends nothing).
    const seen: { t: number; completed: number }[] = [];
    const stuck = await waitFor(
      'A with writeout pending and none completing for 2 s',
      async () => {
        const s = await getJson<AStatus>(aStatus());
        const t = Date.now();
        seen.push({ t, completed: s.swap.completed });
        const since = seen.find((x) => x.completed === s.swap.completed);
        return s.swap.pending > 0 && since && t - since.t >= 2000 ? s : undefined;
      },
      20_000,
    );
    expect(stuck.swap.pending).toBeGreaterThan(0);
  });

  it('fault heal --target c clears the fault', async () => {
    const r = await runCliProcess(['fault', 'heal', '--target', 'c'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('healed c');
    const c = await getJson<CStatus>(cStatus());
    expect(c.fault.active).toBeNull();
    expect(await faultActive()).toBe(0);
  });

  it('SIGINT stops every process, removes the state and targets files, exits 0', async () => {
    const pids = state.nodes.map((n) => n.pid);
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(pidExists(pid)).toBe(true);
    expect(nodeProcessesOf(STATE_DIR).sort()).toEqual([...pids].sort());

    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    expect(exit.code, cli.stderr().slice(-3000)).toBe(0);
    expect(cli.stderr()).toContain('swapnet up: stopped; every process stopped');
    expect(cli.stdout().split('\n').filter(Boolean)).toHaveLength(1);

    // Once the CLI has exited, its nodes are gone already: no waiting.
    for (const pid of pids) expect(pidExists(pid), `node pid ${pid}`).toBe(false);
    expect(nodeProcessesOf(STATE_DIR)).toEqual([]);
    expect(readdirSync(STATE_DIR)).toEqual([]);
    expect(existsSync(targetsFile)).toBe(false);
    expect(existsSync(state.workDir)).toBe(false);
    // ... and so are their ports, and the CLI's own.
    for (const node of Object.values(ready.nodes))
      expect(await answers(node.metricsUrl)).toBe(false);
    expect(await answers(orchestratorMetrics)).toBe(false);
  });
});

describe('swapnet down', () => {
  it('stops a running `up`: it exits 0 (a requested stop, not a node failure), nothing is left', async () => {
    const targetsFile = join(WORK, 'down-targets.json');
    const { cli } = await up(targetsFile);
    const state = recordedState();
    const pids = state.nodes.map((n) => n.pid);

    const r = await runCliProcess(['down', '--json'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ topologies: 1, killed: 3 });
    const exit = await cli.exited;
    expect(exit.code, cli.stderr().slice(-3000)).toBe(0);
    expect(cli.stderr()).toContain('swapnet up: stopped; every process stopped');

    await waitFor('every node process gone', () =>
      pids.every((pid) => !pidExists(pid)) ? true : undefined,
    );
    expect(nodeProcessesOf(STATE_DIR)).toEqual([]);
    expect(readdirSync(STATE_DIR)).toEqual([]);
    expect(existsSync(targetsFile)).toBe(false);
    expect(existsSync(state.workDir)).toBe(false);
  });

  it('after the CLI was killed (SIGKILL): no node process, no listening port, no state file, no targets file', async () => {
    const targetsFile = join(WORK, 'killed-targets.json');
    const { cli, ready } = await up(targetsFile);
    const state = recordedState();
    const pids = state.nodes.map((n) => n.pid);
    expect(pids).toHaveLength(3);
    expect(existsSync(targetsFile)).toBe(true);
    // Every port the topology listens on: each node's, and the CLI's own /metrics.
    const ports = [
      ...Object.values(ready.nodes).flatMap((n) => Object.values(n.listen)),
      ...(JSON.parse(readFileSync(targetsFile, 'utf8')) as { targets: string[] }[]).flatMap(
        (g) => g.targets,
      ),
    ];
    expect(ports.length).toBeGreaterThanOrEqual(6);
    for (const p of ports) expect(await listening(p), p).toBe(true);

    cli.child.kill('SIGKILL');
    const exit = await cli.exited;
    expect(exit.signal).toBe('SIGKILL');

    // The nodes may be exiting by themselves (their IPC channel closed): down reports
    // cleanly whoever ends them.
    const r = await runCliProcess(['down', '--json'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { topologies: number; killed: number };
    expect(report.topologies).toBe(1);
    expect(report.killed).toBeGreaterThanOrEqual(0);
    expect(report.killed).toBeLessThanOrEqual(3);
    console.log(`swapnet down after SIGKILL: ${r.stdout.trim()}`);

    // The end state: no node left (a killed process may take a moment to be reaped).
    await waitFor('every node process gone', () =>
      pids.every((pid) => !pidExists(pid)) ? true : undefined,
    );
    expect(nodeProcessesOf(STATE_DIR)).toEqual([]);
    expect(readdirSync(STATE_DIR)).toEqual([]);
    expect(existsSync(targetsFile)).toBe(false);
    expect(existsSync(state.workDir)).toBe(false);

    // ... and no port is left listening.
    for (const p of ports) expect(await listening(p), p).toBe(false);

    // Nothing is recorded any more.
    const again = await runCliProcess(['down', '--json'], ENV, 30_000);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ topologies: 0, killed: 0 });
  });
});
