// `swapnet fault partition|heal --target a|b|c [--mode MODE] [--for DURATION]`: injects
// a fault into a running topology (`swapnet up`), or heals it. `pause` stops the node's
// process group (SIGSTOP); every other mode goes to the node's control endpoint. With
// --for the command waits and heals by itself (Ctrl-C heals at once).
import { KNOB_SPECS } from '../../nodes/knobs.ts';
import type { FaultMode } from '../../nodes/machines/fault-gate.ts';
import type { NodeRole } from '../../nodes/node-args.ts';
import { applyFault, checkFault, FaultError, healFault, type FaultSurface } from '../fault-plan.ts';
import { EXIT, parseFlags, UsageError, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { setNetnsLink } from '../netns.ts';
import { liveTopologies, saveStateFile, stateDir, type StateFile } from '../topology.ts';

const USAGE = `usage: swapnet fault partition|heal --target a|b|c [--mode MODE] [--for DURATION]
                     [--loss P] [--delay MS] [--jitter MS] [--direction in|out|both]

Partitions (or heals) a node of the running topology started by \`swapnet up\`.
MODE: stall (default), blackhole, reset, pause, loss, delay (see swapnet list).
DURATION: seconds, or with a unit: 500ms, 10s, 2m. With --for the fault heals by itself.`;

const MODES = KNOB_SPECS['fault.mode'][0].options;

/** Parses a duration: 10, 10s, 500ms, 2m. */
export function parseDuration(text: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${field}: "${text}" is not a duration (e.g. 10s, 500ms, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

function numberFlag(text: string | undefined, field: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > max)
    throw new UsageError(`${field}: "${text}" must be a number from 0 to ${max}`);
  return n;
}

async function control(
  state: StateFile,
  target: string,
  action: string,
  body: unknown,
): Promise<unknown> {
  const node = state.nodes.find((n) => n.role === target);
  if (!node)
    throw new UsageError(`--target: node ${target} is not running in topology ${state.id}`);
  const res = await fetch(`http://${node.http}/control/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-swapnet-token': state.token },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await res.json()) as unknown;
  if (!res.ok) throw new UsageError(`node ${target} refused ${action}: ${JSON.stringify(json)}`);
  return json;
}

function signalNode(state: StateFile, target: string, sig: 'SIGSTOP' | 'SIGCONT'): void {
  const node = state.nodes.find((n) => n.role === target);
  if (!node)
    throw new UsageError(`--target: node ${target} is not running in topology ${state.id}`);
  process.kill(-node.pid, sig);
}

export const faultCommand: Command = {
  name: 'fault',
  summary: 'partition or heal a node of a running topology (swapnet up)',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseFlags(
      argv,
      {
        target: { type: 'string' },
        mode: { type: 'string' },
        for: { type: 'string' },
        loss: { type: 'string' },
        delay: { type: 'string' },
        jitter: { type: 'string' },
        direction: { type: 'string' },
      },
      true,
    );
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    const verb = positionals[0];
    if (verb !== 'partition' && verb !== 'heal')
      throw new UsageError(`expected "partition" or "heal", got ${verb ? `"${verb}"` : 'nothing'}`);
    if (positionals.length > 1) throw new UsageError(`unexpected "${positionals[1]}"`);
    const target = values.target;
    if (target !== 'a' && target !== 'b' && target !== 'c')
      throw new UsageError('--target: expected a, b or c');
    const mode = values.mode ?? 'stall';
    if (!(MODES as readonly string[]).includes(mode))
      throw new UsageError(`--mode: "${mode}" is not a fault mode (${MODES.join(', ')})`);
    const direction = values.direction ?? 'both';
    if (!['in', 'out', 'both'].includes(direction))
      throw new UsageError('--direction: expected in, out or both');
    const forSeconds = values.for !== undefined ? parseDuration(values.for, '--for') : undefined;
    const topologies = liveTopologies(stateDir(io.env));
    if (topologies.length === 0)
      throw new UsageError('no running topology: start one with `swapnet up`');
    if (topologies.length > 1)
      throw new UsageError(
        `${topologies.length} topologies are running; stop the others with swapnet down`,
      );
    const { path, state } = topologies[0] as { path: string; state: StateFile };
    const active = state.faults ?? [];
    // The running topology's processes, as the fault plan drives every engine's machines.
    const surface: FaultSurface = {
      gate: async (t, request) => {
        await control(
          state,
          t,
          request === 'heal' ? 'heal' : 'fault',
          request === 'heal' ? {} : request,
        );
      },
      freeze: (t, frozen) => signalNode(state, t, frozen ? 'SIGSTOP' : 'SIGCONT'),
      link: (t, up) => {
        if (!state.netns || t !== 'c') {
          throw new FaultError(
            'mode: netns takes down the link of C in its namespace: start with `swapnet up --set fault.mode=netns` (Linux, root)',
          );
        }
        setNetnsLink(state.netns, up);
      },
    };
    const asUsage = async (fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof FaultError) throw new UsageError(`--${err.message}`);
        throw err;
      }
    };
    const heal = async (): Promise<void> => {
      const f = active.find((x) => x.target === target);
      await asUsage(() => healFault(surface, target, (f?.mode ?? 'stall') as FaultMode));
      state.faults = active.filter((x) => x.target !== target);
      saveStateFile(path, state);
      writeLine(io.stderr, `healed ${target}`);
    };
    if (verb === 'heal') {
      await heal();
      return EXIT.ok;
    }
    await asUsage(async () => {
      const request = checkFault(target as NodeRole, {
        mode,
        direction,
        ...(values.loss !== undefined ? { lossRate: numberFlag(values.loss, '--loss', 1) } : {}),
        ...(values.delay !== undefined
          ? { delayMs: numberFlag(values.delay, '--delay', 60_000) }
          : {}),
        ...(values.jitter !== undefined
          ? { jitterMs: numberFlag(values.jitter, '--jitter', 60_000) }
          : {}),
      });
      await applyFault(surface, target as NodeRole, request);
    });
    state.faults = [
      ...active.filter((x) => x.target !== target),
      { target, mode, since: new Date().toISOString() },
    ];
    saveStateFile(path, state);
    writeLine(
      io.stderr,
      `partitioned ${target} (${mode})${forSeconds !== undefined ? ` for ${forSeconds} s` : ''}`,
    );
    if (forSeconds === undefined) return EXIT.ok;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, forSeconds * 1000);
      io.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await heal();
    return EXIT.ok;
  },
};
