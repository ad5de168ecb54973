// `swapnet up --engine uml`: partition-c's load on a real kernel, running until Ctrl-C, for
// Prometheus and Grafana to watch. The guest boots (orchestrator/engines/uml.ts), the hogs
// start, B's flood follows once they are past their first pass, and this CLI serves the
// swapnet_* metrics of the kernel's own counters: machine A's (role a: memory by state,
// watermarks, reserve in use, writeout, drops by reason, tcp_mem, OOM kills) and B's
// frames (role b), each on a listener of its own, and its own swapnet_fault_active. C
// lives in the rig's namespace, out of the host's reach: this CLI stands in for its
// control endpoint (the token of the state file), so `swapnet fault partition --target c`
// and `swapnet down` work as with the real engine. C's own metrics are not exported.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KNOB_SPECS } from '../../nodes/knobs.ts';
import { counterFn, createRegistry, gaugeFn, type Registry } from '../../nodes/metrics.ts';
import { parseFaultRequest } from '../../nodes/fault-control.ts';
import { EXIT, writeLine, type CliIo } from '../cli-io.ts';
import type { RunnerStatus } from '../engine.ts';
import { startUmlTopology, type UmlTopology } from '../engines/uml.ts';
import { progressView } from '../progress-view.ts';
import type { RunPlan } from '../run-plan.ts';
import { progressLine, sleepUnlessAborted } from '../runner.ts';
import { liveTopologies, NodeFailedError, stateDir, type StateFile } from '../topology.ts';

const STATUS_MS = 250;

/** Machine A's series, read from the kernel's last sample at scrape time. */
function kernelRegistry(latest: () => RunnerStatus | undefined): Registry {
  const r = createRegistry('a');
  const read =
    <L extends string>(
      f: (s: RunnerStatus, set: (l: Partial<Record<L, string>>, v: number) => void) => void,
    ) =>
    (set: (l: Partial<Record<L, string>>, v: number) => void): void => {
      const s = latest();
      if (s) f(s, set);
    };
  gaugeFn(
    r,
    'swapnet_mem_pages',
    "A's pages by state (the kernel's counters)",
    ['state'],
    read((s, set) => {
      for (const [state, n] of Object.entries(s.memory.pages)) set({ state }, n);
    }),
  );
  gaugeFn(
    r,
    'swapnet_mem_watermark_pages',
    "A's zone watermarks (without watermark_boost)",
    ['level'],
    read((s, set) => {
      for (const [level, n] of Object.entries(s.memory.watermarks)) set({ level }, n);
    }),
  );
  gaugeFn(
    r,
    'swapnet_reserve_used_pages',
    'pages under the min watermark in use',
    [],
    read((s, set) => set({}, s.memory.reserve.usedPages)),
  );
  counterFn(
    r,
    'swapnet_swap_writeout_issued_total',
    'pswpout',
    [],
    read((s, set) => set({}, s.swap.issued)),
  );
  counterFn(
    r,
    'swapnet_swap_writeout_completed_total',
    'pswpout minus nr_writeback',
    [],
    read((s, set) => set({}, s.swap.completed)),
  );
  gaugeFn(
    r,
    'swapnet_swap_writeout_pending',
    'nr_writeback',
    [],
    read((s, set) => set({}, s.swap.pending)),
  );
  counterFn(
    r,
    'swapnet_rx_drops_total',
    'PFMemallocDrop (pfmemalloc), TCPRcvQDrop (proto_mem), TCPBacklogDrop (backlog), the NIC rx_dropped (nomem)',
    ['reason', 'socket_class'],
    read((s, set) => {
      for (const [reason, byClass] of Object.entries(s.rx.drops))
        for (const [socket_class, n] of Object.entries(byClass)) set({ reason, socket_class }, n);
    }),
  );
  counterFn(
    r,
    'swapnet_rx_packets_total',
    'Tcp InSegs',
    ['socket_class'],
    read((s, set) => {
      for (const [socket_class, n] of Object.entries(s.rx.delivered)) set({ socket_class }, n);
    }),
  );
  gaugeFn(
    r,
    'swapnet_tcp_mem_pages',
    'TCP memory (sockstat)',
    [],
    read((s, set) => set({}, s.tcpMem.allocated)),
  );
  gaugeFn(
    r,
    'swapnet_tcp_mem_limit_pages',
    'tcp_mem',
    ['level'],
    read((s, set) => {
      s.tcpMem.limits.forEach((n, i) => set({ level: ['min', 'pressure', 'max'][i] as string }, n));
    }),
  );
  counterFn(
    r,
    'swapnet_oom_kills_total',
    'oom_kill',
    [],
    read((s, set) => set({}, s.stats.oomKills)),
  );
  return r;
}

/** Serves `registry` on 127.0.0.1 (GET /metrics) and, when given, the control stand-in. */
async function serve(
  registry: Registry,
  control?: (action: string, body: unknown) => Promise<unknown>,
  token?: string,
): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      void registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      });
      return;
    }
    const m = /^\/control\/(fault|heal)$/.exec(req.url ?? '');
    if (!control || req.method !== 'POST' || !m) {
      res.writeHead(404).end();
      return;
    }
    if (req.headers['x-swapnet-token'] !== token) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad token' }));
      return;
    }
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text = (text + c).slice(0, 65536)));
    req.on('end', () => {
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let body: unknown;
      try {
        body = text === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        answer(400, { error: 'the body is not JSON' });
        return;
      }
      control(m[1] as string, body).then(
        (r) => answer(200, r ?? { ok: true }),
        (err: Error) => answer(400, { error: err.message }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export interface UpUmlOptions {
  readonly json: boolean;
  readonly targetsFile: string;
}

/** Runs `swapnet up --engine uml` until Ctrl-C, SIGTERM or `swapnet down`; the exit code. */
export async function upUml(plan: RunPlan, opts: UpUmlOptions, io: CliIo): Promise<number> {
  const view = progressView(io.stderr, io.stderrIsTTY ?? false, io.env);
  let topo: UmlTopology;
  try {
    topo = await startUmlTopology({ plan, ...(io.signal ? { signal: io.signal } : {}) });
  } catch (err) {
    view.done();
    if (err instanceof NodeFailedError) {
      writeLine(
        io.stderr,
        `swapnet up: ${err.message}\n${err.stderrTail.split('\n').slice(-10).join('\n')}`,
      );
      return EXIT.nodeFailed;
    }
    if (io.signal?.aborted) {
      writeLine(io.stderr, 'swapnet up: interrupted; every process stopped');
      return 130;
    }
    throw err;
  }
  const id = `up-uml-${randomBytes(4).toString('hex')}`;
  const token = randomBytes(24).toString('base64url');
  const workDir = mkdtempSync(join(tmpdir(), 'swapnet-up-uml-'));
  const statePath = join(stateDir(io.env), `${id}.json`);
  let latest: RunnerStatus | undefined;
  let floodFrames = 0;
  const servers: http.Server[] = [];
  const t0 = performance.now();
  let ticker: NodeJS.Timeout | undefined;
  const stopAll = async (): Promise<void> => {
    if (ticker) clearInterval(ticker);
    view.done();
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    rmSync(opts.targetsFile, { force: true });
    rmSync(statePath, { force: true });
    rmSync(workDir, { recursive: true, force: true });
    await topo.close();
  };
  try {
    // partition-c's load: the hogs now, B's flood after their first pass.
    await topo.startWorkload('hog');
    const floodAt =
      plan.scenario.timeline.find((a) => a.do === 'start' && a.workload === 'flood')?.at ?? 0;
    view.note(`the guest is up; B starts its flood in ${floodAt} s, after the hogs' first pass`);
    await sleepUnlessAborted(floodAt, io.signal);
    await topo.startWorkload('flood');

    const a = await serve(kernelRegistry(() => latest));
    const bRegistry = createRegistry('b');
    counterFn(bRegistry, 'swapnet_flood_frames_sent_total', "B's messages written", [], (set) =>
      set({}, floodFrames),
    );
    const b = await serve(bRegistry);
    const own = createRegistry('orchestrator');
    gaugeFn(
      own,
      'swapnet_fault_active',
      'Faults injected now (1 while active)',
      ['target', 'mode'],
      (set) => {
        const active =
          liveTopologies(stateDir(io.env)).find((x) => x.state.id === id)?.state.faults ?? [];
        for (const target of ['a', 'b', 'c'])
          for (const mode of KNOB_SPECS['fault.mode'][0].options)
            set(
              { target, mode },
              active.some((f) => f.target === target && f.mode === mode) ? 1 : 0,
            );
      },
    );
    const c = await serve(
      own,
      async (action, body) => {
        if (action === 'heal') await topo.gate('c', 'heal');
        else await topo.gate('c', parseFaultRequest(body as Record<string, unknown>));
        return { ok: true };
      },
      token,
    );
    servers.push(a.server, b.server, c.server);

    const state: StateFile = {
      id,
      token,
      cliPid: process.pid,
      startedAt: new Date().toISOString(),
      workDir,
      // C as `swapnet fault` reaches it: through this CLI (pause signals C's own process).
      nodes: topo.cPid ? [{ role: 'c', pid: topo.cPid, http: c.address, listen: {} }] : [],
      targetsFile: opts.targetsFile,
    };
    mkdirSync(dirname(statePath), { recursive: true, mode: 0o700 });
    writeFileSync(statePath, JSON.stringify(state));
    mkdirSync(dirname(opts.targetsFile), { recursive: true });
    const targets = [
      { targets: [a.address], labels: { role: 'a', topology: id } },
      { targets: [b.address], labels: { role: 'b', topology: id } },
      { targets: [c.address], labels: { role: 'orchestrator', topology: id } },
    ];
    writeFileSync(opts.targetsFile, JSON.stringify(targets, null, 2));
    if (opts.json)
      writeLine(
        io.stdout,
        JSON.stringify({
          engine: 'uml',
          nodes: {
            a: { metricsUrl: `http://${a.address}/metrics` },
            b: { metricsUrl: `http://${b.address}/metrics` },
          },
          targetsFile: opts.targetsFile,
        }),
      );
    view.note(`topology ${id} up: a real kernel as A (metrics ${a.address}), B ${b.address}`);
    view.note(
      `Prometheus targets: ${opts.targetsFile}; partition C with: swapnet fault partition --target c`,
    );
    view.note('Ctrl-C or `swapnet down` stops everything.');

    ticker = setInterval(() => {
      void Promise.all([topo.statusA(), topo.floodFramesSent()]).then(([s, frames]) => {
        if (s) latest = s;
        if (frames !== undefined) floodFrames = frames;
      });
    }, STATUS_MS);
    const lines = setInterval(() => {
      const faults =
        liveTopologies(stateDir(io.env)).find((x) => x.state.id === id)?.state.faults ?? [];
      const phase =
        faults.length > 0 ? `fault ${faults.map((f) => f.target).join(',')}` : 'running';
      view.line(progressLine((performance.now() - t0) / 1000, phase, latest));
    }, 1000);
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(lines);
  } catch (err) {
    await stopAll();
    if (io.signal?.aborted) {
      writeLine(io.stderr, 'swapnet up: interrupted; every process stopped');
      return 130;
    }
    throw err;
  }
  await stopAll();
  writeLine(io.stderr, 'swapnet up: stopped; every process stopped');
  return EXIT.ok;
}
