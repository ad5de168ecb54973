// The guest agent's samples (guest/agent.pl: /proc/vmstat, TcpExt, /proc/meminfo,
// /proc/zoneinfo) as the verdict's samples, so that decideVerdict (verdict.ts) judges a
// real kernel by the same rule as the model. Pure.
//   issued    pswpout: pages submitted to swap writeout (__swap_writepage counts them);
//   pending   nr_writeback: pages under writeback now (the guest's root is a read-only
//             hostfs, so it has no file writeback: all of it is swap);
//   completed issued - pending;
//   oomKills  oom_kill;
//   retries   allocstall_normal + allocstall_movable: direct reclaim entries, once per
//             round of the allocator's slow path (do_try_to_free_pages counts them), so
//             a task that loops in the allocator counts as the model's retries do; a
//             task asleep in D state (on a mempool, on the swap queue) counts nothing;
//   pagesVerified / integrityErrors: the guest program's own checks, when it reports them.
import type { RunnerStatus } from '../engine.ts';
import type { Sample } from '../verdict.ts';

/** One agent line ({"event":"sample", ...}) as printed; every counter may be missing. */
export type AgentSample = Readonly<Record<string, unknown>>;

const num = (s: AgentSample, key: string): number => {
  const v = s[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
};

export interface GuestChecks {
  readonly pagesVerified: number;
  readonly integrityErrors: number;
}

/** The verdict's sample at `t` seconds since the run began. */
export function verdictSample(t: number, s: AgentSample, checks: GuestChecks): Sample {
  const issued = num(s, 'pswpout');
  const pending = num(s, 'nr_writeback');
  return {
    t,
    issued,
    completed: Math.max(0, issued - pending),
    pending,
    pagesVerified: checks.pagesVerified,
    integrityErrors: checks.integrityErrors,
    swapInErrors: 0,
    oomKills: num(s, 'oom_kill'),
    retries: allocStalls(s),
  };
}

/** Direct reclaim entries (the allocator's slow-path rounds that reclaimed). */
const allocStalls = (s: AgentSample): number =>
  num(s, 'allocstall_normal') + num(s, 'allocstall_movable');

/** What the guest's programs have reported (the service's messages, each hog's touches). */
export interface GuestProgress {
  serviceMessages: number;
  readonly hogTouches: Map<number, number>;
}

/** The zone's watermarks without watermark_boost (zoneinfo's lines include it). */
export function watermarksOf(s: AgentSample): { min: number; low: number; high: number } {
  const boost = num(s, 'wmarkBoost');
  return {
    min: Math.max(0, num(s, 'wmarkMin') - boost),
    low: Math.max(0, num(s, 'wmarkLow') - boost),
    high: Math.max(0, num(s, 'wmarkHigh') - boost),
  };
}

/**
 * Machine A's status as the runner reads it, from the agent's last sample. The kernel's
 * counters where the model has its own:
 *   pages            free = nr_free_pages, anon = nr_anon_pages, writeback = nr_writeback,
 *                    skb = TCP memory (sockstat's mem, pages);
 *   reserve          the kernel's reserve is what lies under the min watermark: its size
 *                    is min, its use how far free memory is below it (peak over the run);
 *   writeout         as verdictSample();
 *   delivered        Tcp InSegs (/proc/net/snmp): segments TCP received, every socket;
 *   drops            pfmemalloc = TcpExt PFMemallocDrop (pfmemalloc skbs a socket without
 *                    SOCK_MEMALLOC threw away), proto_mem = TCPRcvQDrop (tcp_mem or the
 *                    receive buffer said no), backlog = TCPBacklogDrop, nomem = the NIC's
 *                    rx_dropped (no skb for a frame);
 *   blocked tasks    procs_blocked (tasks in D state);
 *   retries          allocstall (as verdictSample()).
 */
export function kernelStatus(
  last: AgentSample,
  all: readonly AgentSample[],
  progress: GuestProgress,
  tcpMemLimits: readonly [number, number, number],
): RunnerStatus {
  const w = watermarksOf(last);
  const free = num(last, 'nr_free_pages');
  let peakUsed = 0;
  for (const s of all) peakUsed = Math.max(peakUsed, watermarksOf(s).min - num(s, 'nr_free_pages'));
  const issued = num(last, 'pswpout');
  const pending = num(last, 'nr_writeback');
  let hogTouches = 0;
  for (const n of progress.hogTouches.values()) hogTouches += n;
  return {
    memory: {
      pages: {
        free,
        anon: num(last, 'nr_anon_pages'),
        writeback: pending,
        skb: num(last, 'tcpMemPages'),
      },
      watermarks: w,
      reserve: { sizePages: w.min, usedPages: Math.max(0, w.min - free), peakUsedPages: peakUsed },
    },
    swap: {
      issued,
      completed: Math.max(0, issued - pending),
      pending,
      pagesVerified: 0,
      integrityErrors: 0,
    },
    stats: {
      swapInErrors: 0,
      oomKills: num(last, 'oom_kill'),
      allocRetries: allocStalls(last),
      nofailRetries: 0,
      pswpin: num(last, 'pswpin'),
      pgscanKswapd: num(last, 'pgscan_kswapd'),
      pgscanDirect: num(last, 'pgscan_direct'),
      pgstealKswapd: num(last, 'pgsteal_kswapd'),
      pgstealDirect: num(last, 'pgsteal_direct'),
      tcpMemoryPressures: num(last, 'TCPMemoryPressures'),
    } as RunnerStatus['stats'],
    rx: {
      delivered: { all: num(last, 'tcpInSegs') },
      drops: {
        pfmemalloc: { all: num(last, 'PFMemallocDrop') },
        proto_mem: { all: num(last, 'TCPRcvQDrop') },
        backlog: { all: num(last, 'TCPBacklogDrop') },
        nomem: { all: num(last, 'nicRxDropped') },
      },
    },
    tcpMem: { allocated: num(last, 'tcpMemPages'), limits: tcpMemLimits },
    workloads: { serviceMessages: progress.serviceMessages, hogTouches },
    tasks: Array.from({ length: num(last, 'procsBlocked') }, () => ({
      activity: 'D:procs_blocked',
    })),
    memcgs: [],
  };
}

/** What a real-kernel record keeps of the guest's counters over a run. */
export interface KernelFigures {
  readonly samples: number;
  readonly pswpout: number;
  readonly pswpin: number;
  readonly oomKills: number;
  /** TcpExt PFMemallocDrop at the end: pfmemalloc skbs dropped for non-memalloc sockets. */
  readonly pfmemallocDrop: number;
  readonly tcpMemoryPressures: number;
  readonly tcpRcvQDrop: number;
  /** Lowest nr_free_pages seen, and the watermarks (pages, without boost) at that sample. */
  readonly freeFloorPages: number | null;
  readonly watermarks: { readonly min: number; readonly low: number; readonly high: number } | null;
  /** Most TCP memory (pages, /proc/net/sockstat) seen. */
  readonly tcpMemPeakPages: number;
}

/** Summarises the agent's samples (in time order). */
export function kernelFigures(samples: readonly AgentSample[]): KernelFigures {
  const last = samples.at(-1) ?? {};
  let floor: AgentSample | null = null;
  let tcpPeak = 0;
  for (const s of samples) {
    if (floor === null || num(s, 'nr_free_pages') < num(floor, 'nr_free_pages')) floor = s;
    tcpPeak = Math.max(tcpPeak, num(s, 'tcpMemPages'));
  }
  return {
    samples: samples.length,
    pswpout: num(last, 'pswpout'),
    pswpin: num(last, 'pswpin'),
    oomKills: num(last, 'oom_kill'),
    pfmemallocDrop: num(last, 'PFMemallocDrop'),
    tcpMemoryPressures: num(last, 'TCPMemoryPressures'),
    tcpRcvQDrop: num(last, 'TCPRcvQDrop'),
    freeFloorPages: floor ? num(floor, 'nr_free_pages') : null,
    watermarks: floor && 'wmarkMin' in floor ? watermarksOf(floor) : null,
    tcpMemPeakPages: tcpPeak,
  };
}
