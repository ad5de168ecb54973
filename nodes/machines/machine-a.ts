// Machine A as an object with no I/O of its own: the memory model, its network stack, the
// swap driver (to C, reconnecting if the connection drops), the service B talks to, the
// hog and the optional reader. It is given a scheduler, a network, a logger and its
// knobs; the process shell (nodes/node-a.ts) gives it real sockets and HTTP, the
// simulation in-memory links in virtual time. Its status() is the one typed view of A
// that the runner, the verdict and /status read.
import { AStack, type AConnection } from '../../netstack/a-stack.ts';
import { ERA_KNOBS, nbdSenderFlags } from '../../netstack/era.ts';
import { afterCurrent, sleep, type Scheduler } from '../../reserve/clock.ts';
import type { ModelEvent } from '../../reserve/events.ts';
import { GFP } from '../../reserve/gfp.ts';
import { DEFAULT_MEMORY_CONFIG, MemoryModel } from '../../reserve/memory-model.ts';
import { Mempool } from '../../reserve/mempool.ts';
import { createRng } from '../../reserve/rng.ts';
import { PF } from '../../reserve/task.ts';
import { TransportBuffers } from '../../reserve/transport-buffers.ts';
import { pagesFromMiB } from '../../reserve/units.ts';
import type { Knobs } from '../knobs.ts';
import { acceptFrames, type HostPort } from './frame-acceptor.ts';
import type { FaultGate } from './fault-gate.ts';
import { GatedConnection } from './gated-connection.ts';
import { LATENCY_BOUNDS_MS, LatencyHistogram } from './latency-histogram.ts';
import { acceptContext, gateFor, type MachineContext } from './machine-context.ts';
import type { NetListener } from './network.ts';
import { SwapDriver } from './swap-driver.ts';
import { newWorkloadStats, Service, startHog, startReader, type Workload } from './workloads.ts';

const EVENTS_KEPT = 100;

/** The memory model machine A gets from its knobs. */
export function modelFromKnobs(
  k: Knobs,
  scheduler: Scheduler,
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
      reclaimThrottle: era.reclaimThrottle,
      oomDetection: era.oomDetection,
      throttleVmWriteout: era.throttleVmWriteout ? { dirtyRatio: k['vm.dirtyRatio'] } : null,
    },
    scheduler,
    sink,
  );
}

export interface MachineAOptions {
  /** Where the service listens for B. */
  readonly listen: HostPort;
  /** C's swap listener. */
  readonly peer: HostPort;
  /** The hog and the reader: start at once ('auto') or when told ('manual'). */
  readonly workloads: 'auto' | 'manual';
}

export type AWorkloadName = 'hog' | 'reader';

/** Machine A's status: what /status serves and every engine's runner samples. */
export type AStatus = ReturnType<MachineA['status']>;

export class MachineA {
  readonly gate: FaultGate;
  readonly model: MemoryModel;
  readonly stack: AStack;
  readonly driver: SwapDriver;
  readonly workloads = newWorkloadStats();
  /** Observes each completed writeout's latency in seconds (the shell's histogram). */
  onWriteCompleted: (seconds: number) => void = () => {};
  /** Model time of the last completed writeout (0: none yet). */
  lastCompletionMs = 0;
  listen: { readonly service: HostPort } = { service: { host: '', port: 0 } };
  private readonly events: ModelEvent[] = [];
  private readonly writeLatency = new LatencyHistogram();
  private readonly bConnections = new Set<AConnection>();
  private readonly started = new Map<AWorkloadName, Workload>();
  private readonly running: Workload[] = [];
  private service!: Service;
  private listener: NetListener | undefined;
  private swapConnection: GatedConnection | undefined;
  private swapReconnects = 0;
  private stopped = false;
  private readonly startedAtMs: number;

  private constructor(private readonly ctx: MachineContext) {
    const k = ctx.knobs;
    this.startedAtMs = ctx.scheduler.now();
    this.gate = gateFor(ctx);
    this.model = modelFromKnobs(k, ctx.scheduler, (e) => {
      this.events.push(e);
      if (this.events.length > EVENTS_KEPT) this.events.shift();
      const level =
        e.type === 'integrity-error' || e.type === 'oom-no-victim' || e.type === 'oom-panic'
          ? 'error'
          : 'warn';
      ctx.log[level]({ event: e }, e.type);
    });
    this.model.start();
    this.stack = new AStack({
      model: this.model,
      era: ERA_KNOBS[k.era],
      ...(k['net.tcpMem'] ? { tcpMem: k['net.tcpMem'] } : {}),
      ...(k['net.rcvbufBytes'] !== null ? { rcvbuf: k['net.rcvbufBytes'] } : {}),
      rto: { minMs: k['net.rtoMinMs'], maxMs: k['net.rtoMaxMs'] },
      nicReserve: k['net.nicReserve'],
    });
    const nbd = this.model.tasks.spawn('nbd0', {
      flags: nbdSenderFlags(ERA_KNOBS[k.era], k['swap.transport']),
      oomScoreAdj: -1000,
    });
    this.driver = new SwapDriver({
      anon: this.model.anon,
      scheduler: ctx.scheduler,
      queueDepth: k['swap.queueDepth'],
      ioScheduler: k['swap.ioScheduler'],
      task: nbd,
      ...(k['swap.transportPagesPerRequest'] > 0
        ? {
            transport: new TransportBuffers(
              this.model.allocator,
              ctx.scheduler,
              k['swap.transportPagesPerRequest'],
            ),
          }
        : {}),
      onWriteCompleted: (seconds, atMs) => {
        this.onWriteCompleted(seconds);
        this.writeLatency.observe(seconds * 1000);
        this.lastCompletionMs = atMs;
      },
    });
  }

  /** Builds A and starts it: the swap connection, the service's listener and memory. */
  static async start(ctx: MachineContext, opts: MachineAOptions): Promise<MachineA> {
    const a = new MachineA(ctx);
    await a.boot(opts);
    return a;
  }

  private async boot(opts: MachineAOptions): Promise<void> {
    const { ctx, model } = this;
    const k = ctx.knobs;
    if (k['swap.dmcrypt']) {
      const lessThrottle = k['mempool.strategy'] === 'less-throttle' ? PF.LESS_THROTTLE : 0;
      const kcryptd = model.tasks.spawn('kcryptd', {
        flags: PF.KTHREAD | lessThrottle,
        oomScoreAdj: -1000,
      });
      const pool = new Mempool(model.allocator, ctx.scheduler, {
        minNr: k['mempool.minNr'],
        strategy: k['mempool.strategy'],
      });
      await pool.fill({ exec: 'task', task: kcryptd });
      this.driver.setCrypt({ pool, task: kcryptd });
    }
    model.anon.attachDevice(this.driver);
    void this.keepSwapConnected(opts.peer);

    const memcg = k['memcg.service']
      ? model.createMemcg({
          name: 'service',
          highPages: k['memcg.highMiB'] !== null ? pagesFromMiB(k['memcg.highMiB']) : Infinity,
          maxPages: k['memcg.maxMiB'] !== null ? pagesFromMiB(k['memcg.maxMiB']) : Infinity,
        })
      : undefined;
    this.service = new Service(
      model,
      ctx.scheduler,
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
      createRng(ctx.seed),
      this.workloads,
      memcg ? { memcg } : {},
    );
    const listener = await acceptFrames({
      ...acceptContext(ctx, this.gate),
      listen: opts.listen,
      self: 'a',
      roles: ['b'],
      accept: (connection, _peer, link) => {
        const aconn = this.stack.attach({ send: (f) => connection.send(f) });
        this.bConnections.add(aconn);
        aconn.acceptMemcg = memcg ?? null;
        aconn.onAccept = (socket) => this.service.add(socket);
        link.onDrain = () => {
          for (const s of aconn.sockets.values()) s.flow.pump();
        };
        return {
          frame: (f) => this.stack.receive(aconn, f),
          batchEnd: () => this.stack.flush(aconn),
          closed: () => {
            for (const s of aconn.sockets.values()) this.service.remove(s);
            this.stack.detach(aconn);
            this.bConnections.delete(aconn);
          },
        };
      },
    });
    this.listener = listener;
    this.listen = { service: { host: listener.host, port: listener.port } };

    // The service initialises its memory first; the hog and the reader start at once, or
    // when the orchestrator says so (workloads 'manual').
    this.running.push(this.service);
    await this.service.start();
    if (opts.workloads === 'auto') {
      this.startWorkload('hog');
      if (k['reader.pages'] > 0) this.startWorkload('reader');
    }
  }

  /** The swap connection to C, kept up: reconnects with a capped back-off. */
  private async keepSwapConnected(peer: HostPort): Promise<void> {
    const { ctx, stack, driver } = this;
    const k = ctx.knobs;
    let backoff = 200;
    while (!this.stopped) {
      try {
        // Through the gate: a reset fault on A refuses the connect (and we retry).
        const link = await this.gate.connect(peer.host, peer.port);
        await new Promise<void>((closed) => {
          let aconn: AConnection | undefined;
          const connection = new GatedConnection(
            this.gate,
            link,
            {
              self: { role: 'a', token: ctx.token },
              expect: { token: ctx.token, roles: ['c'] },
              batchWrites: (run) => afterCurrent(ctx.scheduler, run),
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
                  ctx.log.warn(
                    { era: k.era },
                    'this era has no memalloc sockets: the swap socket stays unmarked',
                  );
                }
                link.onDrain = () => socket.flow.pump();
                driver.attach(socket);
                ctx.log.info({ link: link.label, memalloc: socket.memalloc }, 'swap connection up');
              },
              frame: (f) => aconn && stack.receive(aconn, f),
              batchEnd: () => aconn && stack.flush(aconn),
              closed: (reason) => {
                if (aconn) {
                  for (const s of aconn.sockets.values()) driver.detach(s);
                  stack.detach(aconn);
                }
                ctx.log.warn({ reason }, 'swap connection closed');
                closed();
              },
            },
          );
          this.swapConnection = connection;
        });
      } catch (err) {
        ctx.log.debug({ err: (err as { code?: string }).code }, 'swap connect failed');
      }
      if (this.stopped) return;
      this.swapReconnects++;
      await sleep(ctx.scheduler, backoff);
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  /** Starts the hog or the reader (once; a second start does nothing). */
  startWorkload(name: AWorkloadName): void {
    if (this.started.has(name) || this.stopped) return;
    const { ctx, model } = this;
    const k = ctx.knobs;
    const w =
      name === 'hog'
        ? startHog(
            model,
            ctx.scheduler,
            {
              tasks: k['hog.tasks'],
              pages: Math.floor(k['hog.workingSetRatio'] * model.zone.managedPages),
              pagesPerBatch: k['hog.pagesPerBatch'],
              batchIntervalMs: k['hog.batchIntervalMs'],
            },
            this.workloads,
          )
        : startReader(model, k['reader.pages'], this.workloads, k['reader.rereadMs']);
    this.started.set(name, w);
    this.running.push(w);
    ctx.log.info({ workload: name }, 'workload started');
  }

  /** Stops the hog or the reader: its tasks end and their memory and swap are freed. */
  stopWorkload(name: AWorkloadName): void {
    this.started.get(name)?.stop();
    this.started.delete(name);
  }

  get startedWorkloads(): AWorkloadName[] {
    return [...this.started.keys()];
  }

  healthy(): { ok: boolean; swapConnected: boolean } {
    return { ok: true, swapConnected: this.driver.connected };
  }

  sockets(): ReturnType<AStack['socketViews']> {
    return this.stack.socketViews();
  }

  status() {
    const { model, stack, driver, ctx } = this;
    const k = ctx.knobs;
    const now = ctx.scheduler.now();
    return {
      node: 'a' as const,
      uptimeSeconds: (now - this.startedAtMs) / 1000,
      modelTimeMs: now,
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
        reconnects: this.swapReconnects,
        issued: model.stats.writeoutIssued,
        completed: model.stats.writeoutCompleted,
        failed: model.stats.writeoutFailed,
        pending: model.zone.pages('writeback'),
        slotsUsed: model.slots.used,
        lastCompletionMs: this.lastCompletionMs,
        swapIns: model.stats.swapIns,
        pagesVerified: model.stats.pagesVerified,
        integrityErrors: model.stats.integrityErrors,
        // Cumulative counts per bucket (LATENCY_BOUNDS_MS, then beyond the last bound).
        writeLatency: { boundsMs: LATENCY_BOUNDS_MS, counts: this.writeLatency.counts },
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
      workloads: this.workloads,
      memcgs: model.memcgs.all().map((g) => ({
        name: g.name,
        usage: g.usage,
        // "max" (no limit) is null, as JSON would have it.
        high: Number.isFinite(g.high) ? g.high : null,
        max: Number.isFinite(g.max) ? g.max : null,
        peak: g.peak,
        socketPages: g.socketPages,
        events: g.events,
      })),
      tasks: model.tasks.all().map((t) => ({
        pid: t.pid,
        name: t.name,
        activity: t.activity,
        sinceMs: now - t.activitySince,
        rssPages: t.rssPages,
        swapEntries: t.swapEntries,
        killed: t.killed,
      })),
      connections: { b: this.bConnections.size, swap: driver.connected ? 1 : 0 },
      fault: this.gate.state(),
      events: this.events,
    };
  }

  /** Stops the workloads, the driver and the model; closes every connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.running) w.stop();
    this.driver.stop();
    this.model.stop();
    this.swapConnection?.close('shutdown');
    for (const c of this.bConnections) this.stack.detach(c);
    await this.listener?.close();
    this.gate.stop();
  }
}
