// Machine A: the memory model and its network stack wired to real sockets. It swaps to
// C over one connection (reconnecting if it drops), serves B on a listener, and runs the
// hog, the service and the optional reader. Everything the model reports is logged,
// exported as metrics, and summarised in /status.
import { AStack, type AConnection } from '../netstack/a-stack.ts';
import { ERA_KNOBS } from '../netstack/era.ts';
import type { ModelEvent } from '../reserve/events.ts';
import { GFP } from '../reserve/gfp.ts';
import { DEFAULT_MEMORY_CONFIG, MemoryModel } from '../reserve/memory-model.ts';
import { Mempool } from '../reserve/mempool.ts';
import { createRng } from '../reserve/rng.ts';
import { PF } from '../reserve/task.ts';
import { pagesFromMiB } from '../reserve/units.ts';
import { z } from 'zod';
import { faultControl } from './fault-control.ts';
import { ControlError } from './http-server.ts';
import { acceptFrames } from './frame-acceptor.ts';
import { GatedConnection } from './gated-connection.ts';
import type { Knobs } from './knobs.ts';
import { registerAMetrics } from './metrics-a.ts';
import type { NodeRuntime, RunningNode } from './node-shell.ts';
import { SwapDriver } from './swap-driver.ts';
import { LATENCY_BOUNDS_MS, LatencyHistogram } from './latency-histogram.ts';
import { newWorkloadStats, Service, startHog, startReader, type Workload } from './workloads.ts';

const EVENTS_KEPT = 100;

const WorkloadRequest = z.strictObject({ workload: z.enum(['hog', 'reader']) });

/** The memory model machine A gets from its knobs. */
export function modelFromKnobs(
  k: Knobs,
  scheduler: NodeRuntime['scheduler'],
  sink: (e: ModelEvent) => void,
): MemoryModel {
  const era = ERA_KNOBS[k.era];
  const ramPages = pagesFromMiB(k['mem.ramMiB']);
  return new MemoryModel(
    {
      ...DEFAULT_MEMORY_CONFIG,
      ramPages,
      swapPages: pagesFromMiB(k['swap.sizeMiB'] ?? 2 * k['mem.ramMiB']),
      ...(k['vm.minFreeKbytes'] !== null ? { minFreeKbytes: k['vm.minFreeKbytes'] } : {}),
      watermarkScaleFactor: k['vm.watermarkScaleFactor'],
      pfmemallocThrottle: k['vm.pfmemallocThrottle'] && era.pfmemallocThrottleAvailable,
      recursiveReclaim: k['vm.recursiveReclaim'],
      reserve: k['reserve.strategy'],
      emergencyCache: {
        basePages: k['reserve.dynamicBasePages'],
        maxPages: Math.max(k['reserve.dynamicMaxPages'], k['reserve.dynamicBasePages']),
        shrinkAfterMs: 10_000,
        backoffMs: 5000,
      },
      memcgKmemChargeWithoutReclaim: k['memcg.kmemChargeWithoutReclaim'],
    },
    scheduler,
    sink,
  );
}

export async function startA(rt: NodeRuntime): Promise<RunningNode> {
  const { args, scheduler, log } = rt;
  const k = args.knobs;
  const era = ERA_KNOBS[k.era];
  const events: ModelEvent[] = [];
  const model = modelFromKnobs(k, scheduler, (e) => {
    events.push(e);
    if (events.length > EVENTS_KEPT) events.shift();
    const level = e.type === 'integrity-error' || e.type === 'oom-no-victim' ? 'error' : 'warn';
    log[level]({ event: e }, e.type);
  });
  model.start();
  const stack = new AStack({
    model,
    era,
    ...(k['net.tcpMem'] ? { tcpMem: k['net.tcpMem'] } : {}),
    ...(k['net.rcvbufBytes'] !== null ? { rcvbuf: k['net.rcvbufBytes'] } : {}),
    rto: { minMs: k['net.rtoMinMs'], maxMs: k['net.rtoMaxMs'] },
    nicReserve: k['net.nicReserve'],
  });
  const workloads = newWorkloadStats();
  let lastCompletionMs = 0;

  // The swap device: NBD-like driver, optionally behind dm-crypt.
  const nbd = model.tasks.spawn('nbd0', { flags: PF.KTHREAD | PF.MEMALLOC, oomScoreAdj: -1000 });
  let crypt: { pool: Mempool; task: ReturnType<typeof model.tasks.spawn> } | undefined;
  if (k['swap.dmcrypt']) {
    const kcryptd = model.tasks.spawn('kcryptd', { flags: PF.KTHREAD, oomScoreAdj: -1000 });
    const pool = new Mempool(model.allocator, scheduler, {
      minNr: k['mempool.minNr'],
      strategy: k['mempool.strategy'],
    });
    await pool.fill({ exec: 'task', task: kcryptd });
    crypt = { pool, task: kcryptd };
  }
  const writeLatency = new LatencyHistogram();
  const driver = new SwapDriver({
    anon: model.anon,
    scheduler,
    queueDepth: k['swap.queueDepth'],
    ioScheduler: k['swap.ioScheduler'],
    task: nbd,
    ...(crypt ? { crypt } : {}),
    onWriteCompleted: (seconds, atMs) => {
      duration.observe(seconds);
      writeLatency.observe(seconds * 1000);
      lastCompletionMs = atMs;
    },
  });
  model.anon.attachDevice(driver);
  const duration = registerAMetrics(rt.registry, {
    model,
    stack,
    driver,
    workloads,
    lastCompletionMs: () => lastCompletionMs,
  });

  // The swap connection to C, kept up.
  let stopped = false;
  let swapConnection: GatedConnection | undefined;
  let swapReconnects = 0;
  const peer = args.peer;
  if (!peer) throw new Error('node a needs --peer (C)');
  const connectSwap = async (): Promise<void> => {
    let backoff = 200;
    while (!stopped) {
      try {
        // Through the gate: a reset fault on A refuses the connect (and we retry).
        const link = await rt.gate.connect(peer.host, peer.port);
        await new Promise<void>((closed) => {
          let aconn: AConnection | undefined;
          const connection = new GatedConnection(
            rt.gate,
            link,
            {
              self: { role: 'a', token: args.token },
              expect: { token: args.token, roles: ['c'] },
              batchWrites: (run) => setImmediate(run),
            },
            {
              hello: () => {
                backoff = 200;
                aconn = stack.attach({ send: (f) => connection.send(f) });
                const socket = stack.openSocket(aconn, 1, {
                  cls: 'swap',
                  sndbuf: k['swap.sndbufBytes'],
                  allocation: GFP.NOIO,
                });
                if (k['net.memallocSwapSocket'] && !stack.setMemalloc(socket)) {
                  log.warn(
                    { era: k.era },
                    'this era has no memalloc sockets: the swap socket stays unmarked',
                  );
                }
                link.onDrain = () => socket.flow.pump();
                driver.attach(socket);
                log.info({ link: link.label, memalloc: socket.memalloc }, 'swap connection up');
              },
              frame: (f) => aconn && stack.receive(aconn, f),
              batchEnd: () => aconn && stack.flush(aconn),
              closed: (reason) => {
                if (aconn) {
                  for (const s of aconn.sockets.values()) driver.detach(s);
                  stack.detach(aconn);
                }
                log.warn({ reason }, 'swap connection closed');
                closed();
              },
            },
          );
          swapConnection = connection;
        });
      } catch (err) {
        log.debug({ err: (err as NodeJS.ErrnoException).code }, 'swap connect failed');
      }
      if (stopped) return;
      swapReconnects++;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  };
  void connectSwap();

  // The service, and B's connections to it.
  const memcg = k['memcg.service']
    ? model.createMemcg({
        name: 'service',
        highPages: k['memcg.highMiB'] !== null ? pagesFromMiB(k['memcg.highMiB']) : Infinity,
        maxPages: k['memcg.maxMiB'] !== null ? pagesFromMiB(k['memcg.maxMiB']) : Infinity,
      })
    : undefined;
  const service = new Service(
    model,
    scheduler,
    {
      pages: pagesFromMiB(k['service.workingSetMiB']),
      touchesPerMessage: k['service.touchesPerMessage'],
      hotPages: pagesFromMiB(k['service.hotSetMiB']),
      coldTouchRatio: k['service.coldTouchRatio'],
      allocPagesPerMessage: k['service.allocPagesPerMessage'],
      nofail: k['service.nofail'],
      kmemPagesPerMessage: k['service.kmemPagesPerMessage'],
      kmemHoldMs: k['service.kmemHoldMs'],
    },
    createRng(args.seed),
    workloads,
    memcg ? { memcg } : {},
  );
  const bConnections = new Set<AConnection>();
  const listener = await acceptFrames({
    listen: args.listen,
    token: args.token,
    self: 'a',
    roles: ['b'],
    log,
    counters: rt.counters,
    gate: rt.gate,
    accept: (connection, _peer, link) => {
      const aconn = stack.attach({ send: (f) => connection.send(f) });
      bConnections.add(aconn);
      aconn.onAccept = (socket) => service.add(socket);
      link.onDrain = () => {
        for (const s of aconn.sockets.values()) s.flow.pump();
      };
      return {
        frame: (f) => stack.receive(aconn, f),
        batchEnd: () => stack.flush(aconn),
        closed: () => {
          for (const s of aconn.sockets.values()) service.remove(s);
          stack.detach(aconn);
          bConnections.delete(aconn);
        },
      };
    },
  });

  // The workloads: the service initialises its memory first; the hog and the reader
  // start at once, or when the orchestrator says so (--workloads manual).
  const running: Workload[] = [service];
  await service.start();
  const started = new Map<'hog' | 'reader', Workload>();
  const startWorkload = (name: 'hog' | 'reader'): void => {
    if (started.has(name)) return;
    const w =
      name === 'hog'
        ? startHog(
            model,
            scheduler,
            {
              tasks: k['hog.tasks'],
              pages: Math.floor(k['hog.workingSetRatio'] * model.zone.managedPages),
              pagesPerBatch: k['hog.pagesPerBatch'],
              batchIntervalMs: k['hog.batchIntervalMs'],
            },
            workloads,
          )
        : startReader(model, k['reader.pages'], workloads);
    started.set(name, w);
    running.push(w);
    log.info({ workload: name }, 'workload started');
  };
  if (args.workloads === 'auto') {
    startWorkload('hog');
    if (k['reader.pages'] > 0) startWorkload('reader');
  }
  const gateControl = faultControl(rt.gate);
  const control = async (action: string, body: unknown): Promise<unknown> => {
    if (action !== 'start' && action !== 'stop') return gateControl(action, body);
    const r = WorkloadRequest.safeParse(body);
    if (!r.success)
      throw new ControlError(
        400,
        `workload: expected "hog" or "reader", got ${JSON.stringify((body as { workload?: unknown })?.workload)}`,
      );
    const name = r.data.workload;
    if (action === 'start') startWorkload(name);
    else {
      started.get(name)?.stop();
      started.delete(name);
    }
    return { workloads: [...started.keys()] };
  };

  const startedAt = Date.now();
  return {
    listen: { service: { host: listener.host, port: listener.port } },
    healthy: () => ({ ok: true, swapConnected: driver.connected }),
    sockets: () => stack.socketViews(),
    status: () => ({
      node: 'a',
      uptimeSeconds: (Date.now() - startedAt) / 1000,
      modelTimeMs: scheduler.now(),
      era: k.era,
      knobs: k,
      memory: {
        pages: model.zone.snapshot(),
        managedPages: model.zone.managedPages,
        watermarks: model.zone.watermarks,
        minFreeKbytes: model.zone.minFreeKbytes,
        reserve: {
          strategy: model.reserve.kind,
          sizePages: model.reserve.sizePages(),
          usedPages: model.zone.reserveUsed,
          peakUsedPages: model.zone.reservePeak,
          // The dynamic pool: pages it holds now and its emergencies so far.
          cachedPages: model.emergency?.cached ?? null,
          emergencies: model.emergency?.emergencies ?? null,
        },
        kswapdFailures: model.kswapd.failures,
      },
      swap: {
        connected: driver.connected,
        reconnects: swapReconnects,
        issued: model.stats.writeoutIssued,
        completed: model.stats.writeoutCompleted,
        failed: model.stats.writeoutFailed,
        pending: model.zone.pages('writeback'),
        slotsUsed: model.slots.used,
        lastCompletionMs,
        swapIns: model.stats.swapIns,
        pagesVerified: model.stats.pagesVerified,
        integrityErrors: model.stats.integrityErrors,
        // Cumulative counts per bucket (LATENCY_BOUNDS_MS, then beyond the last bound).
        writeLatency: { boundsMs: LATENCY_BOUNDS_MS, counts: writeLatency.counts },
        driver: driver.stats,
      },
      rx: {
        packets: stack.rx.packets,
        delivered: stack.rx.delivered,
        drops: stack.rx.drops,
      },
      tcpMem: {
        allocated: stack.tcpMem.allocated,
        limits: stack.tcpMem.limits,
        pressure: stack.tcpMem.pressure,
      },
      stats: model.stats,
      workloads,
      memcgs: model.memcgs.all().map((g) => ({
        name: g.name,
        usage: g.usage,
        high: g.high,
        max: g.max,
        peak: g.peak,
        events: g.events,
      })),
      tasks: model.tasks.all().map((t) => ({
        pid: t.pid,
        name: t.name,
        activity: t.activity,
        sinceMs: scheduler.now() - t.activitySince,
        rssPages: t.rssPages,
        swapEntries: t.swapEntries,
        killed: t.killed,
      })),
      connections: { b: bConnections.size, swap: driver.connected ? 1 : 0 },
      fault: rt.gate.state(),
      events,
    }),
    control,
    stop: async () => {
      stopped = true;
      for (const w of running) w.stop();
      driver.stop();
      model.stop();
      swapConnection?.close('shutdown');
      for (const c of bConnections) stack.detach(c);
      await listener.close();
    },
  };
}
