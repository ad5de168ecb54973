// Each node's /metrics exposition, from a running topology, passes `promtool check
// metrics` (Prometheus's own linter) with nothing to report, and carries the names
// DESIGN.md section 10 requires of it. promtool comes from Debian's prometheus package,
// which the integration set-up installs (test/setup/ensure-prometheus.sh); without it
// these tests fail, saying how to install it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, startLightTopology, type LightTopology } from '../helpers/light-topology.ts';
import { promtool, requireBinary } from '../helpers/prometheus.ts';

/** Pipes `exposition` into `promtool check metrics`. */
function promtoolCheck(exposition: string): ReturnType<typeof promtool> {
  return promtool(['check', 'metrics'], exposition);
}

/** What DESIGN.md section 10 requires of each node (the orchestrator's names excluded). */
const REQUIRED = {
  a: [
    'swapnet_mem_pages',
    'swapnet_mem_watermark_pages',
    'swapnet_reserve_used_pages',
    'swapnet_swap_writeout_issued_total',
    'swapnet_swap_writeout_completed_total',
    'swapnet_swap_writeout_pending',
    'swapnet_swap_writeout_duration_seconds',
    'swapnet_swap_last_completion_timestamp_seconds',
    'swapnet_swap_in_total',
    'swapnet_swap_integrity_errors_total',
    'swapnet_rx_packets_total',
    'swapnet_rx_drops_total',
    'swapnet_tcp_mem_pages',
    'swapnet_tcp_mem_limit_pages',
    'swapnet_direct_reclaim_throttled_total',
    'swapnet_kswapd_wakeups_total',
    'swapnet_oom_kills_total',
  ],
  b: ['swapnet_flood_frames_sent_total'],
  c: ['swapnet_store_pages'],
} as const;

let topology: LightTopology | undefined;

beforeAll(async () => {
  requireBinary('promtool');
  // The default service (32 MiB on a 16 MiB A) swaps while it starts: A's swap series,
  // the duration histogram included, have values when scraped.
  topology = await startLightTopology({ token: 'promtool-test-token' });
}, 60_000);

afterAll(async () => {
  await topology?.stop();
});

describe('promtool check metrics', () => {
  it('reports a known problem (the check below is not vacuous)', async () => {
    const bad = await promtoolCheck('# HELP foo a counter\n# TYPE foo counter\nfoo 1\n');
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/foo.*_total/);
  });

  for (const name of ['a', 'b', 'c'] as const) {
    it(`finds nothing to fix in node ${name}'s exposition`, async () => {
      if (!topology) throw new Error('the topology did not start');
      const r = await httpGet(topology[name], '/metrics');
      expect(r.status).toBe(200);
      const checked = await promtoolCheck(r.body);
      expect(
        { code: checked.code, problems: checked.output.split('\n').filter((l) => l.trim()) },
        `promtool check metrics on node ${name}`,
      ).toEqual({ code: 0, problems: [] });
      for (const metric of REQUIRED[name]) {
        expect(r.body, `node ${name} exports ${metric}`).toMatch(
          new RegExp(`^# TYPE ${metric} `, 'm'),
        );
      }
      if (name === 'a') {
        expect(r.body).toMatch(/^swapnet_swap_writeout_duration_seconds_count\{node="a"\} [1-9]/m);
      }
    });
  }
});
