// A light topology of real processes for tests that need all three nodes up but not a
// deadlock: C, then A pointed at C (no hog), then B pointed at A (two gentle connections).
// Resolves once A's swap connection and B's connections are up, waiting on the nodes' log
// lines (events on their stderr), never on sleeps. stop() kills everything it started.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { spawnNode, stopAllNodes, type NodeProcess } from './node-process.ts';

/** Longest any wait in these helpers may take before it fails with what it saw. */
export const WAIT_MS = 15_000;

/** B's connections in a light topology. */
export const LIGHT_FLOOD_CONNECTIONS = 2;

export interface LightTopologyOptions {
  readonly token: string;
  /** Knobs (`key=value`) for every node, after the light defaults. */
  readonly sets?: readonly string[];
  /** Extra environment for every node. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface LightTopology {
  readonly a: NodeProcess;
  readonly b: NodeProcess;
  readonly c: NodeProcess;
  /** Kills every node (SIGKILL) and removes C's store. */
  stop(): Promise<void>;
}

export async function startLightTopology(options: LightTopologyOptions): Promise<LightTopology> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swapnet-light-'));
  const stop = async (): Promise<void> => {
    await stopAllNodes();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const sets = [
      'mem.ramMiB=16',
      'hog.tasks=0',
      `flood.connections=${LIGHT_FLOOD_CONNECTIONS}`,
      'flood.rate=50',
      ...(options.sets ?? []),
    ].flatMap((s) => ['--set', s]);
    const env = {
      ...process.env,
      SWAPNET_LOG_LEVEL: 'info',
      ...options.env,
      SWAPNET_TOKEN: options.token,
    };
    const c = await spawnNode('c', ['--store', path.join(dir, 'c.swapstore'), ...sets], env);
    const a = await spawnNode('a', ['--peer', c.ready.listen.swap as string, ...sets], env);
    // B logs each connection it opens at debug level: the event waited on below.
    const b = await spawnNode('b', ['--peer', a.ready.listen.service as string, ...sets], {
      ...env,
      SWAPNET_LOG_LEVEL: 'debug',
    });
    await Promise.all([
      waitForLog(a, 'swap connection up', 1),
      waitForLog(b, 'flood connection open', LIGHT_FLOOD_CONNECTIONS),
    ]);
    return { a, b, c, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves once `node` has logged `msg` at least `count` times (an event on its stderr). */
export function waitForLog(node: NodeProcess, msg: string, count: number): Promise<void> {
  const needle = `"msg":"${msg}"`;
  const seen = (): number => node.stderr().split(needle).length - 1;
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      node.child.stderr?.off('data', check);
    };
    // The spawn helper's listener was added first, so stderr() already holds this chunk.
    const check = (): void => {
      if (seen() < count) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(
          `node ${node.ready.node} logged "${msg}" ${seen()} times, not ${count}, within ${WAIT_MS} ms\n${node.stderr()}`,
        ),
      );
    }, WAIT_MS);
    void node.exited.then((e) => {
      done();
      reject(new Error(`node ${node.ready.node} exited (${JSON.stringify(e)})\n${node.stderr()}`));
    });
    node.child.stderr?.on('data', check);
    check();
  });
}

export function hostPort(address: string | undefined): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(address ?? '');
  if (!m) throw new Error(`not a host:port: ${address}`);
  return { host: m[1] as string, port: Number(m[2]) };
}

/** GET on a fresh connection to a node's http port (no keep-alive socket outlives it). */
export function httpGet(
  node: NodeProcess,
  pathname: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { host, port } = hostPort(node.ready.listen.http);
    const req = http.get({ host, port, path: pathname, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/**
 * A light topology for the whole test file: started before its tests, stopped after
 * them. Returns the accessor the tests use; it throws if the start failed.
 */
export function useLightTopology(
  options: LightTopologyOptions,
): (name: 'a' | 'b' | 'c') => NodeProcess {
  let topology: LightTopology | undefined;
  beforeAll(async () => {
    topology = await startLightTopology(options);
  }, 60_000);
  afterAll(async () => {
    await topology?.stop();
  });
  return (name) => {
    if (!topology) throw new Error('the topology did not start');
    return topology[name];
  };
}
