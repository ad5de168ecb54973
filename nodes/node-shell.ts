// Running a node process: parse the command line once, build the runtime (scheduler,
// logger, registry, counters), start the node, serve HTTP, print one ready line on
// stdout, and on SIGTERM or SIGINT stop in reverse order of start. Errors in the
// arguments exit 2 with a message naming the flag.
import type { Registry } from 'prom-client';
import { ConfigError } from '../reserve/errors.ts';
import type { FaultGate } from './machines/fault-gate.ts';
import type { MachineContext } from './machines/machine-context.ts';
import { registerGateMetrics } from './metrics-gate.ts';
import { tcpNetwork } from './tcp-network.ts';
import { startHttp, type HttpHandlers } from './http-server.ts';
import { createLogger, type Logger } from './logger.ts';
import { createRegistry } from './metrics.ts';
import {
  formatHostPort,
  NODE_USAGE,
  parseNodeArgs,
  type HostPort,
  type NodeArgs,
} from './node-args.ts';
import { realScheduler, type RealScheduler } from './real-scheduler.ts';
import { ShellCounters } from './shell-counters.ts';

export interface NodeRuntime {
  readonly args: NodeArgs;
  readonly scheduler: RealScheduler;
  readonly log: Logger;
  readonly registry: Registry;
  readonly counters: ShellCounters;
  /** Registers the machine's fault gate's metrics; the shell stops it at shutdown. */
  adoptGate(gate: FaultGate): void;
  /** Wall time (ms since the epoch) of a model time of this node's scheduler. */
  wallMs(modelMs: number): number;
}

/**
 * The HELLO deadline: SWAPNET_HELLO_TIMEOUT_MS when it is a positive integer (tests
 * shorten it so a silent peer is refused quickly), else the machine's default.
 */
function helloTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const ms = Number(env.SWAPNET_HELLO_TIMEOUT_MS);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** What a machine is given in a process: real TCP, the node's scheduler and logger. */
export function machineContext(rt: NodeRuntime): MachineContext {
  const helloTimeoutMs = helloTimeoutFromEnv(process.env);
  return {
    knobs: rt.args.knobs,
    seed: rt.args.seed,
    token: rt.args.token,
    scheduler: rt.scheduler,
    network: tcpNetwork,
    log: rt.log,
    counters: rt.counters,
    stamp: () => new Date().toISOString(),
    ...(helloTimeoutMs !== undefined ? { helloTimeoutMs } : {}),
  };
}

export interface RunningNode {
  /** Frame listeners by name (A: service; C: swap). */
  readonly listen: Readonly<Record<string, HostPort>>;
  healthy(): { ok: boolean; [k: string]: unknown };
  status(): unknown;
  control?: HttpHandlers['control'];
  /** Every socket of the emulated stack (machine A). */
  sockets?: () => unknown;
  /** Stops the node's work and closes its listeners and connections. */
  stop(): Promise<void>;
}

/** The ready line a node prints on stdout once every listener is bound. */
export interface ReadyLine {
  readonly ready: true;
  readonly node: string;
  readonly pid: number;
  readonly listen: Readonly<Record<string, string>>;
  readonly metricsUrl: string;
}

export async function runNode(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  start: (rt: NodeRuntime) => Promise<RunningNode>,
): Promise<void> {
  let args: NodeArgs | 'help';
  try {
    args = parseNodeArgs(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`swapnet node: ${err.message}\n\n${NODE_USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  if (args === 'help') {
    process.stdout.write(`${NODE_USAGE}\n`);
    return;
  }
  const log = createLogger(args.role);
  const scheduler = realScheduler(args.knobs['time.scale']);
  const epochAtZero = Date.now() - scheduler.now() * scheduler.scale;
  let gate: FaultGate | undefined;
  const rt: NodeRuntime = {
    args,
    scheduler,
    log,
    registry: createRegistry(args.role),
    counters: new ShellCounters(),
    adoptGate: (g) => {
      gate = g;
      registerGateMetrics(rt.registry, g);
    },
    wallMs: (modelMs) => epochAtZero + modelMs * scheduler.scale,
  };
  rt.counters.register(rt.registry);
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  let node: RunningNode;
  try {
    node = await start(rt);
  } catch (err) {
    log.fatal({ err }, 'node failed to start');
    process.exitCode = 3;
    gate?.stop();
    rt.scheduler.stop();
    return;
  }
  const http = await startHttp(
    args.http,
    args.token,
    {
      metrics: async () => ({
        body: await rt.registry.metrics(),
        contentType: rt.registry.contentType,
      }),
      healthz: () => node.healthy(),
      status: () => node.status(),
      ...(node.sockets ? { sockets: node.sockets } : {}),
      ...(node.control ? { control: node.control } : {}),
    },
    log,
    rt.counters,
  );
  const ready: ReadyLine = {
    ready: true,
    node: args.role,
    pid: process.pid,
    listen: Object.fromEntries([
      ...Object.entries(node.listen).map(([k, v]) => [k, formatHostPort(v)]),
      ['http', formatHostPort(http.address)],
    ]),
    metricsUrl: `http://${formatHostPort(http.address)}/metrics`,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  log.info(ready, 'ready');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    void (async () => {
      await http.close();
      await node.stop();
      gate?.stop();
      rt.scheduler.stop();
      log.info('stopped');
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Started by the orchestrator with an IPC channel: if it dies, nothing must outlive it.
  if (process.channel) {
    process.on('disconnect', () => shutdown('parent-gone'));
    process.channel.unref();
  }
}
