// The uml engine: machine A is a real Linux kernel (Debian's User-Mode Linux) swapping
// over NBD to swapnet's C (orchestrator/uml/rig.ts); B is plain TCP connections from
// the rig's namespace to a service in the guest (orchestrator/uml/flood.ts); A's status
// is built from the guest kernel's own counters, which its agent prints on the console
// (orchestrator/uml/agent-samples.ts). The runner drives it as it drives the other two.
//
// A real kernel can only be configured, not rewritten, so a plan runs here when every
// knob it sets is one the engine can carry into the guest (umlConfig): the RAM, the swap
// socket (net.memallocSwapSocket: the kernel's NBD socket, which nbd.ko marks
// SOCK_MEMALLOC, or an NBD device on a Unix socket to a relay forwarding over a plain TCP
// socket), the NIC (net.nicReserve: era = UML's legacy driver, whose receive skbs may come
// from the reserve; never = the vector driver, plain GFP_ATOMIC), vm.min_free_kbytes,
// vm.watermark_scale_factor, the hog, the service, the flood, and faults of C's gate (or
// pause). Any other knob that differs from its default is refused, naming the policy that
// set it when one did.
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { defaultKnobs, type Knobs } from '../../nodes/knobs.ts';
import type { NodeRole } from '../../nodes/node-args.ts';
import { ConfigError } from '../../reserve/errors.ts';
import type { EngineClock, EngineTopology, RunnerStatus, WorkloadName } from '../engine.ts';
import { FaultError } from '../fault-plan.ts';
import type { RunPlan } from '../run-plan.ts';
import { NodeFailedError } from '../topology.ts';
import {
  kernelFigures,
  kernelStatus,
  type AgentSample,
  type GuestProgress,
} from '../uml/agent-samples.ts';
import {
  startUmlRig,
  UML_GUEST_IP,
  type GuestEvent,
  type UmlNic,
  type UmlRig,
} from '../uml/rig.ts';
import { sleepUnlessAborted } from './real.ts';

const TSX = import.meta.resolve('tsx');
const FLOOD = fileURLToPath(new URL('../uml/flood.ts', import.meta.url));
const SERVICE_PORT = 7000;
/** The agent's sampling period: the runner samples every 250 ms. */
const AGENT_MS = 250;
/** The agent samples every AGENT_MS: this long without a sample, A does not answer. */
const AGENT_SILENT_MS = 2000;
/** Boot, NBD, swapon and the service's first touch of its memory. */
const READY_TIMEOUT_MS = 120_000;
/** Lines kept of each sysrq dump for the record when the guest does not complete. */
const WEDGE_LINES = 400;

/** Knobs the engine carries into the guest or the runner (every other must be default). */
const CARRIED = new Set<keyof Knobs>([
  'era',
  'mem.ramMiB',
  'vm.minFreeKbytes',
  'vm.watermarkScaleFactor',
  'net.memallocSwapSocket',
  'net.nicReserve',
  'swap.transport',
  'swap.sizeMiB',
  'hog.tasks',
  'hog.workingSetRatio',
  'hog.pagesPerBatch',
  'hog.batchIntervalMs',
  'service.workingSetMiB',
  'service.touchesPerMessage',
  'service.hotSetMiB',
  'service.coldTouchRatio',
  'flood.connections',
  'flood.rate',
  'flood.payloadBytes',
  'fault.mode',
  'fault.atSeconds',
  'fault.forSeconds',
  'fault.durationSeconds',
  'fault.lossRate',
  'fault.delayMs',
  'fault.jitterMs',
]);

/** What a plan becomes on a real kernel. */
export interface UmlConfig {
  readonly memMiB: number;
  readonly swapMiB: number;
  readonly transport: 'tcp' | 'relay';
  /** The relay's kind (SWAPNET_UML_RELAY): io-flusher (default) or naive. */
  readonly relay: 'io-flusher' | 'naive';
  readonly nic: UmlNic;
  readonly minFreeKbytes: number | undefined;
  readonly watermarkScaleFactor: number;
  readonly hog: {
    readonly tasks: number;
    readonly ratio: number;
    readonly batch: number;
    readonly intervalMs: number;
  };
  readonly service: {
    readonly workingSetMiB: number;
    readonly hotSetMiB: number;
    readonly coldRatio: number;
    readonly messageBytes: number;
    readonly touches: number;
  };
  readonly flood: {
    readonly connections: number;
    readonly rate: number;
    readonly payloadBytes: number;
  };
}

/** SWAPNET_UML_RELAY: how the vanilla transport's relay behaves under reclaim. */
export function relayKind(text: string | undefined): 'io-flusher' | 'naive' {
  if (text === undefined || text === '' || text === 'io-flusher') return 'io-flusher';
  if (text === 'naive') return 'naive';
  throw new ConfigError('SWAPNET_UML_RELAY', `"${text}" is not a relay kind (io-flusher, naive)`);
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The plan as a real kernel's configuration; a ConfigError naming the policy, knob or
 * timeline action the engine cannot carry.
 */
export function umlConfig(plan: RunPlan): UmlConfig {
  const k = plan.knobs;
  const defaults = defaultKnobs();
  const byPolicy = plan.policy.apply(k);
  for (const name of Object.keys(k) as (keyof Knobs)[]) {
    if (CARRIED.has(name) || same(k[name], defaults[name])) continue;
    const value = JSON.stringify(k[name]);
    if (name in byPolicy)
      throw new ConfigError(
        '--policy',
        `"${plan.policy.name}" sets ${name}=${value}, which the uml engine cannot configure in a real kernel (it runs vanilla, memalloc and min-free-20)`,
      );
    throw new ConfigError(
      name,
      `${value} cannot be configured in a real kernel by the uml engine (only its default, ${JSON.stringify(defaults[name])})`,
    );
  }
  if (k.era !== 'modern')
    throw new ConfigError('--era', `"${k.era}": the uml engine's kernel is Linux 6.1 (era modern)`);
  if (k['net.memallocSwapSocket'] && k['swap.transport'] === 'userspace')
    throw new ConfigError(
      'swap.transport',
      '"userspace" with net.memallocSwapSocket=true: a userspace relay\'s socket cannot be SOCK_MEMALLOC',
    );
  if (k['fault.mode'] === 'netns')
    throw new ConfigError(
      'fault.mode',
      '"netns" cannot partition C alone in the uml rig (B and C share the guest\'s one link); use a gate mode (stall, blackhole, reset, loss, delay) or pause',
    );
  for (const a of plan.scenario.timeline) {
    if (a.do === 'restart')
      throw new ConfigError(
        `scenario ${plan.scenario.name}`,
        `restart of ${a.target.toUpperCase()} at ${a.at} s: the uml engine does not restart machines`,
      );
    if (a.do === 'fault' && a.target !== 'c')
      throw new ConfigError(
        `scenario ${plan.scenario.name}`,
        `fault on ${a.target.toUpperCase()} at ${a.at} s: the uml engine faults C only`,
      );
    if (a.do === 'fault' && a.mode === 'netns')
      throw new ConfigError(
        `scenario ${plan.scenario.name}`,
        `fault mode "netns" at ${a.at} s: B and C share the guest's one link in the uml rig`,
      );
    if ((a.do === 'start' || a.do === 'stop') && a.workload === 'reader')
      throw new ConfigError(
        `scenario ${plan.scenario.name}`,
        `the reader workload at ${a.at} s: the uml engine runs the hog, the service and B's flood`,
      );
  }
  const ram = k['mem.ramMiB'];
  return {
    memMiB: ram,
    swapMiB: k['swap.sizeMiB'] ?? 2 * ram,
    transport: k['net.memallocSwapSocket'] ? 'tcp' : 'relay',
    relay: relayKind(process.env.SWAPNET_UML_RELAY),
    nic: k['net.nicReserve'] === 'never' ? 'vector' : 'legacy',
    minFreeKbytes: k['vm.minFreeKbytes'] ?? undefined,
    watermarkScaleFactor: k['vm.watermarkScaleFactor'],
    hog: {
      tasks: k['hog.tasks'],
      ratio: k['hog.workingSetRatio'],
      batch: k['hog.pagesPerBatch'],
      intervalMs: k['hog.batchIntervalMs'],
    },
    service: {
      workingSetMiB: k['service.workingSetMiB'],
      hotSetMiB: k['service.hotSetMiB'],
      coldRatio: k['service.coldTouchRatio'],
      messageBytes: k['flood.payloadBytes'],
      touches: k['service.touchesPerMessage'],
    },
    flood: {
      connections: k['flood.connections'],
      rate: k['flood.rate'] ?? 0,
      payloadBytes: k['flood.payloadBytes'],
    },
  };
}

export interface UmlTopologyOptions {
  readonly plan: RunPlan;
  /** Called with console lines that say something went wrong in the guest. */
  readonly onGuestLog?: (line: string) => void;
  /** Ctrl-C while the guest boots: everything started so far is stopped. */
  readonly signal?: AbortSignal;
}

/** A running uml topology: an EngineTopology, and C's process (for `swapnet up`). */
export interface UmlTopology extends EngineTopology {
  /** C's process id (its own process group), inside the rig's namespace. */
  readonly cPid: number | undefined;
}

/** Boots the rig for `plan` and returns once the guest's service listens. */
export async function startUmlTopology(opts: UmlTopologyOptions): Promise<UmlTopology> {
  const cfg = umlConfig(opts.plan);
  const samples: AgentSample[] = [];
  const progress: GuestProgress = { serviceMessages: 0, hogTouches: new Map() };
  const consoleTail: string[] = [];
  let boot: GuestEvent | undefined;
  let swapon: GuestEvent | undefined;
  let agent: GuestEvent | undefined;
  let listening = false;
  let guestError: string | undefined;
  let wake: () => void = () => {};
  const acks: GuestEvent[] = [];
  let sysrqDone = 0;
  let tasks: GuestEvent[] | undefined;
  let lastSampleAt = 0;
  let capture: string[] | undefined;

  const onEvent = (e: GuestEvent): void => {
    if (consoleFile) appendFileSync(consoleFile, `SWAPNET ${JSON.stringify(e)}\n`);
    switch (e.event) {
      case 'sample':
        samples.push(e);
        lastSampleAt = performance.now();
        break;
      case 'service':
        if (e.phase === 'listening') listening = true;
        if (typeof e.messages === 'number') progress.serviceMessages = e.messages;
        break;
      case 'hog':
        if (typeof e.pid === 'number' && typeof e.touches === 'number')
          progress.hogTouches.set(e.pid, e.touches);
        break;
      case 'boot':
        boot = e;
        break;
      case 'swapon':
        swapon = e;
        break;
      case 'agent':
        agent = e;
        break;
      case 'task':
        tasks?.push(e);
        break;
      case 'sysrq-done':
        sysrqDone++;
        break;
      case 'ack':
      case 'nack':
        acks.push(e);
        break;
      case 'error':
        guestError = `the guest's set-up failed at ${String(e.step)}`;
        break;
    }
    wake();
  };
  // SWAPNET_UML_CONSOLE=FILE keeps the guest's whole console (kernel log, agent lines).
  const consoleFile = process.env.SWAPNET_UML_CONSOLE;
  const onConsole = (line: string): void => {
    if (consoleFile) appendFileSync(consoleFile, `${line}\n`);
    consoleTail.push(line);
    if (capture && capture.length < WEDGE_LINES) capture.push(line);
    if (consoleTail.length > 60) consoleTail.shift();
    if (/page allocation failure|Out of memory|blocked for more than|BUG|Oops/.test(line))
      opts.onGuestLog?.(line);
  };
  const waitFor = async (what: string, ok: () => boolean, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (opts.signal?.aborted) throw new Error('aborted');
      if (guestError) throw new NodeFailedError('a', guestError, consoleTail.join('\n'));
      const left = deadline - Date.now();
      if (left <= 0)
        throw new NodeFailedError(
          'a',
          `the guest did not ${what} in ${ms / 1000} s`,
          consoleTail.join('\n'),
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };

  const id = randomBytes(4).toString('hex');
  const rig: UmlRig = await startUmlRig({
    id,
    memMiB: cfg.memMiB,
    swapMiB: cfg.swapMiB,
    transport: cfg.transport,
    nic: cfg.nic,
    minFreeKbytes: cfg.minFreeKbytes,
    program: 'engine',
    hogMiB: 0,
    agentMs: AGENT_MS,
    guestEnv: {
      SWAPNET_SERVICE_MIB: String(cfg.service.workingSetMiB),
      SWAPNET_HOT_MIB: String(cfg.service.hotSetMiB),
      SWAPNET_COLD_RATIO: String(cfg.service.coldRatio),
      SWAPNET_MESSAGE_BYTES: String(cfg.service.messageBytes),
      SWAPNET_TOUCHES: String(cfg.service.touches),
      SWAPNET_WATERMARK_SCALE_FACTOR: String(cfg.watermarkScaleFactor),
      SWAPNET_RELAY: cfg.relay,
    },
    onEvent,
    onConsole,
  });
  let flood: ChildProcess | undefined;
  let floodFrames = 0;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    flood?.kill('SIGKILL');
    await rig.close();
  };
  try {
    await Promise.race([
      waitFor(
        'start its service',
        () => listening && agent !== undefined && samples.length > 0,
        READY_TIMEOUT_MS,
      ),
      rig.guestExited.then((code) => {
        throw new NodeFailedError(
          'a',
          `the guest exited (${code}) while starting`,
          consoleTail.join('\n'),
        );
      }),
    ]);
  } catch (err) {
    await close();
    throw err;
  }
  const tcpMemLimits = (
    Array.isArray(agent?.tcpMem) && agent.tcpMem.length === 3 ? agent.tcpMem : [0, 0, 0]
  ) as [number, number, number];

  const command = async (line: string, timeoutMs = 15_000): Promise<void> => {
    const from = acks.length;
    rig.command(line);
    await waitFor(`acknowledge "${line}"`, () => acks.length > from, timeoutMs);
    const answer = acks[from];
    if (answer?.event !== 'ack')
      throw new NodeFailedError('a', `the guest refused "${line}"`, consoleTail.join('\n'));
  };
  const memTotalKb = typeof swapon?.memTotalKb === 'number' ? swapon.memTotalKb : cfg.memMiB * 1024;
  const t0 = performance.now();
  const clock: EngineClock = {
    now: () => (performance.now() - t0) / 1000,
    sleep: sleepUnlessAborted,
  };
  const onlyC = (target: NodeRole, what: string): void => {
    if (target !== 'c')
      throw new FaultError(`${what} on ${target.toUpperCase()}: the uml engine faults C only`);
  };

  return {
    engine: 'uml',
    cPid: rig.c.pid,
    clock,
    async statusA(): Promise<RunnerStatus | undefined> {
      const last = samples.at(-1);
      // An agent silent for longer than AGENT_SILENT_MS is a machine that does not
      // answer: its last counters are not the machine's state now.
      if (!last || performance.now() - lastSampleAt > AGENT_SILENT_MS) return undefined;
      return kernelStatus(last, samples, progress, tcpMemLimits);
    },
    floodFramesSent: async () => (flood ? floodFrames : undefined),
    async startWorkload(name: WorkloadName) {
      if (name === 'hog') {
        const { tasks, ratio, batch, intervalMs } = cfg.hog;
        const mibEach = Math.max(1, Math.floor((ratio * memTotalKb) / 1024 / Math.max(1, tasks)));
        await command(`start hog ${tasks} ${mibEach} ${batch} ${intervalMs}`);
      } else if (name === 'flood') {
        if (flood) return;
        floodFrames = 0;
        const f = rig.spawnInNamespace([
          process.execPath,
          '--import',
          TSX,
          FLOOD,
          UML_GUEST_IP,
          String(SERVICE_PORT),
          String(cfg.flood.connections),
          String(cfg.flood.rate),
          String(cfg.flood.payloadBytes),
        ]);
        flood = f;
        createInterface({ input: f.stdout as NodeJS.ReadableStream }).on('line', (l) => {
          try {
            const s = JSON.parse(l) as { framesSent?: unknown };
            if (typeof s.framesSent === 'number') floodFrames = s.framesSent;
          } catch {
            // not a status line
          }
        });
      } else {
        throw new ConfigError('workload', `"${name}" is not run by the uml engine`);
      }
    },
    async stopWorkload(name: WorkloadName) {
      if (name === 'hog') await command('stop hog');
      else if (name === 'flood') {
        flood?.kill('SIGKILL');
        flood = undefined;
      }
    },
    async restart(target) {
      throw new FaultError(
        `restart of ${target.toUpperCase()}: the uml engine does not restart machines`,
      );
    },
    async gate(target, request) {
      onlyC(target, request === 'heal' ? 'heal' : `fault ${request.mode}`);
      if (request === 'heal') await rig.control('heal', {});
      else await rig.control('fault', request);
    },
    freeze(target, frozen) {
      onlyC(target, 'pause');
      if (rig.c.pid) process.kill(rig.c.pid, frozen ? 'SIGSTOP' : 'SIGCONT');
    },
    link() {
      throw new FaultError('mode: "netns" cannot partition C alone in the uml rig');
    },
    async finalReport(verdict: string) {
      // How long the agent had been silent at the end (a wedge can stop it too: then the
      // last counters are the ones it saw).
      const agentSilentSeconds = Number(((performance.now() - lastSampleAt) / 1000).toFixed(1));
      let wedge: Record<string, unknown> | undefined;
      if (verdict !== 'completed') {
        // Where the kernel hangs: the tasks in D state and their kernel stacks, as the
        // agent reads them (/proc/PID/stack, of the tasks there were when the hog
        // started: opening files for new ones would allocate); the allocator's state (sysrq m), then the tasks in D
        // state with their kernel stacks (w). The agent triggers them from its own
        // context when it still runs (its files were opened at start, so it allocates
        // nothing); else the management console, which the guest kernel answers from
        // an interrupt. UML has no sysrq l (no per-CPU backtrace). From the interrupt,
        // w panics this UML 6.1 when it reaches a kworker (print_worker_info faults in
        // copy_from_kernel_nofault with no mm: "Segfault with no mm"), so it goes last.
        tasks = [];
        let agentAnswered = true;
        try {
          await command('tasks', 5000);
        } catch {
          agentAnswered = false;
        }
        const blockedTasks = tasks.map((t) => ({
          pid: t.pid,
          comm: t.comm,
          state: t.state,
          stack: String(t.stack ?? '')
            .split('|')
            .filter(Boolean),
        }));
        tasks = undefined;
        const replies: Record<string, string[]> = {};
        let via = 'agent';
        for (const key of ['m', 'w']) {
          const lines: string[] = [];
          capture = lines;
          const from = sysrqDone;
          try {
            await command(`sysrq ${key}`, 5000);
            await waitFor(`finish sysrq ${key}`, () => sysrqDone > from, 10_000);
            replies[key] = lines.slice(0, WEDGE_LINES);
          } catch {
            via = 'mconsole';
            try {
              // The reply carries the dump (NUL-separated printk records).
              const text = await rig.mconsoleCommand(`sysrq ${key}`);
              replies[key] = text
                .split(/[\0\n]+/)
                .filter((l) => l.trim() !== '')
                .slice(0, WEDGE_LINES);
            } catch (err) {
              // A panic cuts the reply short: what reached the console is kept.
              await new Promise((resolve) => setTimeout(resolve, 1000));
              replies[key] = [...lines.slice(0, WEDGE_LINES), (err as Error).message.trim()];
            }
          }
          capture = undefined;
        }
        wedge = { agentAnswered, blockedTasks, sysrqVia: via, sysrq: replies };
      }
      return {
        kernel: {
          version: boot?.kernel ?? null,
          nic: { kind: cfg.nic, interface: boot?.nic ?? null },
          transport:
            cfg.transport === 'tcp'
              ? 'kernel NBD socket (SOCK_MEMALLOC)'
              : `userspace relay (plain TCP, ${cfg.relay === 'naive' ? 'naive' : 'PR_SET_IO_FLUSHER'})`,
          memTotalKb,
          swapTotalKb: swapon?.swapTotalKb ?? null,
          tcpMemPages: tcpMemLimits,
          agentMlocked: agent?.mlocked === 1,
          agentSilentSeconds,
          ...kernelFigures(samples),
          ...(wedge ? { wedge } : {}),
        },
      };
    },
    close,
  };
}
