// The guest agent's samples (guest/agent.pl: /proc/vmstat, TcpExt, /proc/meminfo,
// /proc/zoneinfo) as the verdict's samples, so that decideVerdict (verdict.ts) judges a
// real kernel by the same rule as the model. Pure.
//   issued    pswpout: pages submitted to swap writeout (__swap_writepage counts them);
//   pending   nr_writeback: pages under writeback now (the guest's root is a read-only
//             hostfs, so it has no file writeback: all of it is swap);
//   completed issued - pending;
//   oomKills  oom_kill;
//   retries   0: the kernel exports no count of allocation retries, so the rule cannot
//             call a real kernel's run a livelock (a known gap);
//   pagesVerified / integrityErrors: the guest program's own checks, when it reports them.
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
    retries: 0,
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
  /** Lowest nr_free_pages seen, and the watermarks (pages) at that sample. */
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
    watermarks:
      floor && 'wmarkMin' in floor
        ? {
            min: num(floor, 'wmarkMin'),
            low: num(floor, 'wmarkLow'),
            high: num(floor, 'wmarkHigh'),
          }
        : null,
    tcpMemPeakPages: tcpPeak,
  };
}
