// Machine A's metrics (DESIGN.md section 10), all read from the model at scrape time.
import type { Registry } from 'prom-client';
import type { AStack } from '../netstack/a-stack.ts';
import { DROP_REASONS, SOCKET_CLASSES } from '../netstack/socket-class.ts';
import type { MemoryModel } from '../reserve/memory-model.ts';
import { PAGE_STATES } from '../reserve/zone.ts';
import { counterFn, gaugeFn, Histogram } from './metrics.ts';
import type { SwapDriver } from './machines/swap-driver.ts';
import type { WorkloadStats } from './machines/workloads.ts';

export interface AMetricsSources {
  readonly model: MemoryModel;
  readonly stack: AStack;
  readonly driver: SwapDriver;
  readonly workloads: WorkloadStats;
  /** Wall time (ms since the epoch) of the last completed writeout, 0 if none. */
  readonly lastCompletionMs: () => number;
}

/** Registers A's metrics; returns the writeout latency histogram to observe into. */
export function registerAMetrics(registry: Registry, src: AMetricsSources): Histogram<string> {
  const { model, stack, driver, workloads } = src;
  const s = model.stats;
  const zone = model.zone;
  gaugeFn(registry, 'swapnet_mem_pages', 'Pages of machine A by state', ['state'], (set) => {
    for (const state of PAGE_STATES) set({ state }, zone.pages(state));
  });
  gaugeFn(registry, 'swapnet_mem_watermark_pages', 'Zone watermarks in pages', ['level'], (set) => {
    const w = zone.watermarks;
    set({ level: 'min' }, w.min);
    set({ level: 'low' }, w.low);
    set({ level: 'high' }, w.high);
  });
  gaugeFn(registry, 'swapnet_reserve_used_pages', 'Pfmemalloc pages held now', [], (set) =>
    set({}, zone.reserveUsed),
  );
  gaugeFn(
    registry,
    'swapnet_reserve_size_pages',
    'Pages the memalloc reserve can hand out',
    [],
    (set) => set({}, model.reserve.sizePages()),
  );
  gaugeFn(registry, 'swapnet_reserve_peak_pages', 'Most pfmemalloc pages held at once', [], (set) =>
    set({}, zone.reservePeak),
  );
  counterFn(
    registry,
    'swapnet_swap_writeout_issued_total',
    'Pages handed to the swap device for writeout',
    [],
    (set) => set({}, s.writeoutIssued),
  );
  counterFn(
    registry,
    'swapnet_swap_writeout_completed_total',
    'Writeouts confirmed by the swap server',
    [],
    (set) => set({}, s.writeoutCompleted),
  );
  gaugeFn(
    registry,
    'swapnet_swap_writeout_pending',
    'Pages in writeback, waiting for the swap server',
    [],
    (set) => set({}, zone.pages('writeback')),
  );
  const duration = new Histogram({
    name: 'swapnet_swap_writeout_duration_seconds',
    help: 'Time from queueing a writeout to the swap server confirming it',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  gaugeFn(
    registry,
    'swapnet_swap_last_completion_timestamp_seconds',
    'When the last writeout completed (Unix time)',
    [],
    (set) => set({}, src.lastCompletionMs() / 1000),
  );
  gaugeFn(
    registry,
    'swapnet_swap_queue_in_flight',
    "Requests holding a tag in the swap driver's queue",
    [],
    (set) => set({}, driver.stats.inFlight),
  );
  gaugeFn(
    registry,
    'swapnet_swap_queue_waiters',
    'Tasks sleeping for a free swap queue tag (D state)',
    [],
    (set) => set({}, driver.stats.waitingSubmitters),
  );
  gaugeFn(registry, 'swapnet_swap_connected', 'Whether the swap connection to C is up', [], (set) =>
    set({}, driver.connected ? 1 : 0),
  );
  counterFn(registry, 'swapnet_swap_in_total', 'Pages read back from swap', [], (set) =>
    set({}, s.swapIns),
  );
  counterFn(
    registry,
    'swapnet_swap_pages_verified_total',
    'Swapped-in pages whose content matched',
    [],
    (set) => set({}, s.pagesVerified),
  );
  counterFn(
    registry,
    'swapnet_swap_integrity_errors_total',
    'Swapped-in pages whose content did not match',
    [],
    (set) => set({}, s.integrityErrors),
  );
  counterFn(
    registry,
    'swapnet_rx_packets_total',
    "Frames that reached A's NIC, by socket class",
    ['socket_class'],
    (set) => {
      for (const c of SOCKET_CLASSES) set({ socket_class: c }, stack.rx.packets[c]);
    },
  );
  counterFn(
    registry,
    'swapnet_rx_delivered_total',
    'Frames queued on a socket, by socket class',
    ['socket_class'],
    (set) => {
      for (const c of SOCKET_CLASSES) set({ socket_class: c }, stack.rx.delivered[c]);
    },
  );
  counterFn(
    registry,
    'swapnet_rx_drops_total',
    "Frames A's receive path dropped",
    ['reason', 'socket_class'],
    (set) => {
      for (const r of DROP_REASONS)
        for (const c of SOCKET_CLASSES) set({ reason: r, socket_class: c }, stack.rx.drops[r][c]);
    },
  );
  gaugeFn(registry, 'swapnet_tcp_mem_pages', 'Pages charged to tcp_mem', [], (set) =>
    set({}, stack.tcpMem.allocated),
  );
  gaugeFn(registry, 'swapnet_tcp_mem_limit_pages', 'net.ipv4.tcp_mem', ['level'], (set) => {
    const [min, pressure, max] = stack.tcpMem.limits;
    set({ level: 'min' }, min);
    set({ level: 'pressure' }, pressure);
    set({ level: 'max' }, max);
  });
  gaugeFn(
    registry,
    'swapnet_tcp_memory_pressure',
    'Whether TCP is under memory pressure',
    [],
    (set) => set({}, stack.tcpMem.pressure ? 1 : 0),
  );
  counterFn(
    registry,
    'swapnet_direct_reclaim_throttled_total',
    'Direct reclaimers throttled on pfmemalloc_wait',
    [],
    (set) => set({}, s.directReclaimThrottled),
  );
  counterFn(
    registry,
    'swapnet_recursive_reclaim_pages_total',
    'Clean pages freed by recursive reclaim (a reserve user found the reserve empty)',
    [],
    (set) => set({}, s.recursiveReclaimPages),
  );
  counterFn(registry, 'swapnet_direct_reclaim_total', 'Direct reclaim calls', [], (set) =>
    set({}, s.directReclaimCalls),
  );
  counterFn(registry, 'swapnet_kswapd_wakeups_total', 'kswapd wakeups', [], (set) =>
    set({}, s.kswapdWakeups),
  );
  gaugeFn(
    registry,
    'swapnet_kswapd_failures',
    'Consecutive kswapd runs that reclaimed nothing',
    [],
    (set) => set({}, model.kswapd.failures),
  );
  counterFn(registry, 'swapnet_oom_kills_total', 'Tasks killed by the OOM killer', [], (set) =>
    set({}, s.oomKills),
  );
  counterFn(
    registry,
    'swapnet_alloc_failures_total',
    'Allocations that returned no page',
    [],
    (set) => set({}, s.allocFailures),
  );
  counterFn(
    registry,
    'swapnet_alloc_retries_total',
    'Allocation slow-path retry rounds',
    [],
    (set) => set({}, s.allocRetries),
  );
  counterFn(
    registry,
    'swapnet_nofail_retries_total',
    'NOFAIL retries after the slow path gave up',
    [],
    (set) => set({}, s.nofailRetries),
  );
  counterFn(
    registry,
    'swapnet_reserve_emergencies_total',
    'Reserve allocations that found the reserve empty',
    [],
    (set) => set({}, s.reserveEmergencies),
  );
  gaugeFn(
    registry,
    'swapnet_tasks',
    'Tasks of machine A by activity (D: = uninterruptible sleep)',
    ['activity'],
    (set) => {
      const counts = new Map<string, number>();
      for (const t of model.tasks.all()) counts.set(t.activity, (counts.get(t.activity) ?? 0) + 1);
      for (const [activity, n] of counts) set({ activity }, n);
    },
  );
  counterFn(
    registry,
    'swapnet_service_messages_total',
    "Messages A's service consumed",
    [],
    (set) => set({}, workloads.serviceMessages),
  );
  counterFn(registry, 'swapnet_hog_touches_total', 'Pages the hog touched', [], (set) =>
    set({}, workloads.hogTouches),
  );
  gaugeFn(registry, 'swapnet_memcg_usage_pages', 'Memory cgroup usage', ['memcg'], (set) => {
    for (const g of model.memcgs.all()) set({ memcg: g.name }, g.usage);
  });
  gaugeFn(
    registry,
    'swapnet_memcg_limit_pages',
    'Memory cgroup limits (-1: max)',
    ['memcg', 'limit'],
    (set) => {
      for (const g of model.memcgs.all()) {
        set({ memcg: g.name, limit: 'high' }, Number.isFinite(g.high) ? g.high : -1);
        set({ memcg: g.name, limit: 'max' }, Number.isFinite(g.max) ? g.max : -1);
      }
    },
  );
  return duration;
}
