// A whole topology of real processes on 127.0.0.1 (C, then A pointed at C, then B pointed
// at A), and waiting on conditions of a node's /status. Every process is stopped by
// stopAllNodes() in the test's teardown.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnNode, type NodeProcess } from './node-process.ts';

export const TOPOLOGY_TOKEN = 'topology-test-token';

export interface Topology {
  readonly a: NodeProcess;
  readonly b: NodeProcess;
  readonly c: NodeProcess;
  readonly store: string;
  readonly env: NodeJS.ProcessEnv;
  /** Removes the temporary directory (after the processes are stopped). */
  cleanup(): void;
}

export async function startTopology(sets: readonly string[]): Promise<Topology> {
  const dir = mkdtempSync(join(tmpdir(), 'swapnet-topo-'));
  const store = join(dir, 'swap.store');
  const env = { ...process.env, SWAPNET_TOKEN: TOPOLOGY_TOKEN, SWAPNET_LOG_LEVEL: 'warn' };
  const setArgs = sets.flatMap((s) => ['--set', s]);
  const c = await spawnNode('c', ['--store', store, ...setArgs], env);
  const a = await spawnNode('a', ['--peer', c.ready.listen.swap as string, ...setArgs], env);
  const b = await spawnNode('b', ['--peer', a.ready.listen.service as string, ...setArgs], env);
  return { a, b, c, store, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  return res.json();
}

/**
 * Polls `url` (a node's /status) until `predicate` holds, and returns that status;
 * rejects with the last status seen when `timeoutMs` passes.
 */
export async function waitForStatus<T>(
  url: string,
  predicate: (s: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = (await getJson(url)) as T;
      if (predicate(last)) return last;
    } catch {
      // Not answering yet (starting, or between a kill and a restart): try again.
    }
    if (Date.now() > deadline) {
      throw new Error(
        `condition not met within ${timeoutMs} ms; last status: ${JSON.stringify(last)?.slice(0, 2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
