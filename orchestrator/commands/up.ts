// `swapnet up`: a long-running topology to watch in Grafana. Writes a Prometheus file_sd
// targets file listing every node and this CLI's own /metrics (swapnet_fault_active),
// prints one JSON line once every node is ready (with --json), shows a status line, and
// runs until Ctrl-C, SIGTERM or `swapnet down`.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../../reserve/errors.ts';
import { KNOB_SPECS } from '../../nodes/knobs.ts';
import { createRegistry, gaugeFn } from '../../nodes/metrics.ts';
import { EngineError, parseEngine, type EngineName } from '../engine.ts';
import { EXIT, parseFlags, UsageError, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { progressView } from '../progress-view.ts';
import { planRun } from '../run-plan.ts';
import type { AStatus } from '../../nodes/machines/machine-a.ts';
import { progressLine, sleepUnlessAborted } from '../runner.ts';
import { liveTopologies, NodeFailedError, stateDir, Topology } from '../topology.ts';
import { seedOf } from './run.ts';
import { upUml } from './up-uml.ts';
import { umlConfig } from '../engines/uml.ts';
import { umlUnavailable } from '../uml/rig.ts';

const USAGE = `usage: swapnet up [--engine real|uml] [--policy NAME] [--era ERA] [--set KEY=VALUE]... [--seed N]
                  [--json] [--targets-file FILE]

Starts machines C, A and B on 127.0.0.1 (the load of the partition-c scenario, under the
policy) and keeps them running until Ctrl-C or \`swapnet down\`. Partition C with
\`swapnet fault partition --target c\` and watch it in Grafana (README "Watch it in
Grafana"): dashboards/prometheus/prometheus.yml scrapes dashboards/prometheus/targets/*.json.

  --engine real|uml     real (default): three processes; uml: machine A is a real Linux
                        kernel (User-Mode Linux, as for swapnet run --engine uml), its
                        own counters as swapnet_* metrics; Linux and root
  --targets-file FILE   where to write Prometheus file_sd targets
                        (default: <state dir>/prometheus-targets.json; for dashboards/:
                        --targets-file dashboards/prometheus/targets/swapnet.json)
  --json                print one JSON line once every node is ready

up does not run the simulation (--engine sim): it runs in virtual time inside one process
and ends with its run; use \`swapnet run --engine sim\` for it.`;

/**
 * Why `up` refuses the simulation: it is a long-running topology on the wall clock,
 * scraped by Prometheus and watched in Grafana; a simulation has no processes, no
 * /metrics and no wall-clock time to watch.
 */
function upEngine(text: string | undefined): EngineName {
  let engine: EngineName;
  try {
    engine = parseEngine(text);
  } catch (err) {
    if (err instanceof EngineError) throw new UsageError(err.message);
    throw err;
  }
  if (engine === 'sim') {
    throw new UsageError(
      `--engine: "${engine}" is not available for up: up starts a long-running topology of ` +
        `real processes on the wall clock for Prometheus and Grafana to watch; the ` +
        `simulation runs in virtual time inside one process and has nothing to scrape ` +
        `(use \`swapnet run --engine ${engine}\` for a simulated run)`,
    );
  }
  return engine;
}

export function defaultTargetsFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'prometheus-targets.json');
}

export const upCommand: Command = {
  name: 'up',
  summary: 'start a long-running topology to watch in Grafana',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, {
      engine: { type: 'string' },
      policy: { type: 'string' },
      era: { type: 'string' },
      set: { type: 'string', multiple: true },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      'targets-file': { type: 'string' },
    });
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    const engine = upEngine(values.engine);
    let plan;
    try {
      plan = planRun({
        scenario: 'partition-c',
        policy: values.policy ?? 'vanilla',
        era: values.era,
        sets: values.set ?? [],
        seed: seedOf(values.seed),
      });
      if (engine === 'uml') {
        umlConfig(plan);
        const why = umlUnavailable();
        if (why) throw new ConfigError('--engine', `uml: ${why}`);
      }
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
    if (engine === 'uml')
      return upUml(
        plan,
        {
          json: values.json ?? false,
          // Absolute, so that `swapnet down` run from another directory still finds it.
          targetsFile: resolve(values['targets-file'] ?? defaultTargetsFile(io.env)),
        },
        io,
      );
    const view = progressView(io.stderr, io.stderrIsTTY ?? false, io.env);
    let topo: Topology;
    try {
      // The load of partition-c: the hogs now, B's flood once they are past their first
      // pass (flooding a thrashing service from the start can wedge vanilla by itself).
      topo = await Topology.start({
        knobs: plan.knobs,
        seed: plan.seed,
        env: { SWAPNET_LOG_LEVEL: 'warn' },
        netns: plan.knobs['fault.mode'] === 'netns',
        startB: false,
      });
      const floodAt =
        plan.scenario.timeline.find((a) => a.do === 'start' && a.workload === 'flood')?.at ?? 0;
      view.note(
        `A and C up; B starts its flood in ${floodAt} s, after the hogs' first pass (as in partition-c)`,
      );
      try {
        await sleepUnlessAborted(floodAt, io.signal);
        await topo.startFlood();
      } catch (err) {
        await topo.stop();
        if (io.signal?.aborted) {
          view.done();
          writeLine(io.stderr, 'swapnet up: interrupted; every process stopped');
          return 130;
        }
        throw err;
      }
    } catch (err) {
      if (err instanceof NodeFailedError) {
        writeLine(
          io.stderr,
          `swapnet up: ${err.message}\n${err.stderrTail.split('\n').slice(-10).join('\n')}`,
        );
        return EXIT.nodeFailed;
      }
      throw err;
    }

    // This CLI's own metrics: which faults are active (from the state file, at scrape time).
    const registry = createRegistry('orchestrator');
    gaugeFn(
      registry,
      'swapnet_fault_active',
      'Faults injected now (1 while active)',
      ['target', 'mode'],
      (set) => {
        const mine = liveTopologies().find((x) => x.state.id === topo.id);
        const active = mine?.state.faults ?? [];
        for (const target of ['a', 'b', 'c']) {
          for (const mode of KNOB_SPECS['fault.mode'][0].options) {
            set(
              { target, mode },
              active.some((f) => f.target === target && f.mode === mode) ? 1 : 0,
            );
          }
        }
      },
    );
    const server = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        void registry.metrics().then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        });
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const own = `127.0.0.1:${(server.address() as AddressInfo).port}`;

    // Absolute, so that `swapnet down` run from another directory still finds it.
    const targetsFile = resolve(values['targets-file'] ?? defaultTargetsFile(io.env));
    mkdirSync(dirname(targetsFile), { recursive: true });
    const targets = [
      ...topo.handles.map((n) => ({
        targets: [n.ready.listen.http],
        labels: { role: n.role, topology: topo.id },
      })),
      { targets: [own], labels: { role: 'orchestrator', topology: topo.id } },
    ];
    writeFileSync(targetsFile, JSON.stringify(targets, null, 2));
    topo.noteTargetsFile(targetsFile);

    const nodes = Object.fromEntries(
      topo.handles.map((n) => [n.role, { metricsUrl: n.ready.metricsUrl, listen: n.ready.listen }]),
    );
    if (values.json) writeLine(io.stdout, JSON.stringify({ nodes, targetsFile }));
    view.note(
      `topology ${topo.id} up: A ${topo.listenOf('a', 'http')}, B ${topo.listenOf('b', 'http')}, C ${topo.listenOf('c', 'http')}`,
    );
    view.note(
      `Prometheus targets: ${targetsFile}; partition C with: swapnet fault partition --target c`,
    );
    view.note('Ctrl-C or `swapnet down` stops everything.');

    const t0 = performance.now();
    let failed: string | undefined;
    const crashed = new Promise<void>((resolve) => {
      for (const n of topo.handles) {
        void n.exited.then((e) => {
          failed ??= `node ${n.role} exited (code ${e.code}, signal ${e.signal})`;
          resolve();
        });
      }
    });
    const ticker = setInterval(() => {
      void topo.status<AStatus>('a', 900).then((s) => {
        const faults = liveTopologies().find((x) => x.state.id === topo.id)?.state.faults ?? [];
        const phase =
          faults.length > 0 ? `fault ${faults.map((f) => f.target).join(',')}` : 'running';
        view.line(progressLine((performance.now() - t0) / 1000, phase, s));
      });
    }, 1000);
    await Promise.race([
      crashed,
      new Promise<void>((resolve) => {
        if (io.signal?.aborted) resolve();
        io.signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
    ]);
    clearInterval(ticker);
    view.done();
    await topo.stop();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(targetsFile, { force: true });
    if (failed && !io.signal?.aborted) {
      writeLine(io.stderr, `swapnet up: ${failed}; every process stopped`);
      return EXIT.nodeFailed;
    }
    writeLine(io.stderr, 'swapnet up: stopped; every process stopped');
    return EXIT.ok;
  },
};
