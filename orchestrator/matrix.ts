// The compare matrix as text: a policy x scenario grid of verdicts (with the recovery
// time), then one line per run with what the verdict rests on: recovery time, packets
// tossed (and whose: C's replies / B's data) and dropped, the reserve's peak, the memory the policy holds back, and the 99th
// percentile of writeout latency before the first fault (a bucket bound).
import { reservedMiB } from './policies.ts';
import type { RunRecord, RunResult } from './runner.ts';

function table(head: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => (b[c] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((x, c) => x.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...body.map(fmt)].join('\n');
}

/** A bucket bound in ms as text; the last bound (10 s) means at least that. */
function latency(ms: number | null): string {
  if (ms === null) return '-';
  if (ms >= 10_000) return '>= 10 s';
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** pfmemalloc drops of the swap socket (C's replies) / of the service (B's data). */
function tossedSplit(record: RunRecord | undefined): string {
  const last = record?.timeline.at(-1)?.tossedByClass;
  return last ? `${last.swap ?? 0}/${last.service ?? 0}` : '-';
}

function cell(r: RunResult): string {
  return r.recoverySeconds === null ? r.verdict : `${r.verdict} (${r.recoverySeconds} s)`;
}

/** Policies down, scenarios across, in the order they were run; "-" where not run. */
export function verdictGrid(rows: readonly RunResult[]): string {
  const policies = [...new Set(rows.map((r) => r.policy))];
  const scenarios = [...new Set(rows.map((r) => r.scenario))];
  const body = policies.map((p) => [
    p,
    ...scenarios.map((s) => {
      const r = rows.find((x) => x.policy === p && x.scenario === s);
      return r ? cell(r) : '-';
    }),
  ]);
  return table(['policy \\ scenario', ...scenarios], body);
}

/** One line per run. `records[i]` (when given) is the record of `rows[i]`. */
export function detailTable(rows: readonly RunResult[], records: readonly RunRecord[]): string {
  const head = [
    'scenario',
    'policy',
    'verdict',
    'recovery',
    'tossed',
    "C's/B's",
    'nomem',
    'proto_mem',
    'reserve peak',
    'held back',
    'writeout p99',
  ];
  const body = rows.map((r, i) => {
    const record = records[i];
    return [
      r.scenario,
      r.policy,
      r.verdict,
      r.recoverySeconds === null ? '-' : `${r.recoverySeconds} s`,
      String(r.rx.tossedPfmemalloc),
      tossedSplit(record),
      String(r.rx.droppedNoMem),
      String(r.rx.droppedProtoMem),
      `${r.reserve.peakUsedPages}/${r.reserve.sizePages}`,
      record ? `${reservedMiB(record.knobs).toFixed(1)} MiB` : '-',
      latency(record?.steadyLatency?.p99Ms ?? null),
    ];
  });
  return table(head, body);
}

/** What compare prints: the grid when there is more than one run, then the details. */
export function matrix(rows: readonly RunResult[], records: readonly RunRecord[]): string {
  const details = detailTable(rows, records);
  return rows.length > 1 ? `${verdictGrid(rows)}\n\n${details}` : details;
}
