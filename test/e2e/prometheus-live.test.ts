// The real Prometheus (Debian's package) against a live topology, with dashboards/ as
// shipped: a copy of prometheus.yml and rules.yml in a folder of this test's own, and
// `swapnet up --targets-file <that folder>/targets/swapnet.json`, exactly as README "Watch
// it in Grafana" tells a user. Prometheus scrapes A, B, C and the CLI through a partition
// of C and its heal; under vanilla the writeout stall alert goes pending, then firing;
// every query of the Grafana dashboard (variables substituted as Grafana would) returns
// data over the run; stopping the topology raises the node-down companion (absence).
// Waits poll the Prometheus HTTP API with deadlines; nothing sleeps.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  killAllCli,
  killNodesOf,
  runCliProcess,
  spawnCli,
  waitFor,
  type CliProcess,
} from '../helpers/cli-process.ts';
import { REPO_ROOT } from '../helpers/node-process.ts';
import {
  promAlerts,
  promApi,
  promQuery,
  promQueryRange,
  requireBinary,
  startPrometheus,
  stopAllPrometheus,
  type PromAlert,
  type PrometheusServer,
} from '../helpers/prometheus.ts';

const DASHBOARDS = join(REPO_ROOT, 'dashboards');
const WORK = mkdtempSync(join(tmpdir(), 'swapnet-e2e-prometheus-'));
const STATE_DIR = join(WORK, 'state');
const PROM_DIR = join(WORK, 'prometheus');
const TARGETS_FILE = join(PROM_DIR, 'targets', 'swapnet.json');
const ENV = { ...process.env, SWAPNET_STATE_DIR: STATE_DIR };

/** What Grafana puts for $__rate_interval with the datasource's 1 s scrape interval. */
const RATE_INTERVAL = '4s';

interface DashboardJson {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  annotations: { list: { name: string; expr?: string }[] };
}

const dashboard = JSON.parse(
  readFileSync(join(DASHBOARDS, 'grafana', 'dashboards', 'swapnet.json'), 'utf8'),
) as DashboardJson;

let prom: PrometheusServer;
let cli: CliProcess;
let topology: string;
/** Unix seconds when Prometheus started: range queries cover the run from there. */
let startedAt: number;

const now = (): number => Date.now() / 1000;

beforeAll(async () => {
  requireBinary('prometheus');
  mkdirSync(STATE_DIR);
  mkdirSync(join(PROM_DIR, 'targets'), { recursive: true });
  for (const f of ['prometheus.yml', 'rules.yml'])
    copyFileSync(join(DASHBOARDS, 'prometheus', f), join(PROM_DIR, f));
  startedAt = Math.floor(now());
  prom = await startPrometheus({
    configFile: join(PROM_DIR, 'prometheus.yml'),
    dataDir: join(WORK, 'data'),
  });
  cli = spawnCli(['up', '--json', '--targets-file', TARGETS_FILE], ENV);
  await cli.line('stdout', /^\{/, 60_000);
  const groups = JSON.parse(readFileSync(TARGETS_FILE, 'utf8')) as {
    labels: { topology: string };
  }[];
  topology = groups[0]?.labels.topology as string;
});

afterAll(async () => {
  await killAllCli();
  killNodesOf(STATE_DIR);
  await prom?.stop();
  await stopAllPrometheus();
  rmSync(WORK, { recursive: true, force: true });
});

/** Alerts named `name` of this topology's machine A, pending or firing now. */
async function alertsOf(name: string): Promise<PromAlert[]> {
  return (await promAlerts(prom.url)).filter(
    (a) => a.labels.alertname === name && a.labels.topology === topology,
  );
}

describe('Prometheus with dashboards/prometheus against swapnet up (vanilla)', () => {
  it('scrapes A, B, C and the CLI from the targets file, each labelled with the topology', async () => {
    const healthy = await waitFor(
      'four healthy targets of the topology',
      async () => {
        const data = await promApi<{
          activeTargets: { labels: Record<string, string>; health: string }[];
        }>(prom.url, '/api/v1/targets', { state: 'active' });
        const mine = data.activeTargets.filter((t) => t.labels.topology === topology);
        return mine.length === 4 && mine.every((t) => t.health === 'up') ? mine : undefined;
      },
      30_000,
    );
    expect(healthy.map((t) => t.labels.role).sort()).toEqual(['a', 'b', 'c', 'orchestrator']);
    for (const t of healthy) expect(t.labels.job).toBe('swapnet');
    expect(await alertsOf('SwapnetNodeDown')).toEqual([]);
  });

  it('raises the writeout stall alert, pending then firing, while C is partitioned', async () => {
    const r = await runCliProcess(['fault', 'partition', '--target', 'c'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(0);
    const partitionedAt = now();

    let pendingAt: number | undefined;
    const firing = await waitFor(
      'SwapnetWriteoutStalled firing',
      async () => {
        const alerts = await alertsOf('SwapnetWriteoutStalled');
        if (alerts.some((a) => a.state === 'pending')) pendingAt ??= now();
        return alerts.find((a) => a.state === 'firing');
      },
      60_000,
    );
    const firingAt = now();
    console.log(
      `stall alert: ${pendingAt ? `pending ${(pendingAt - partitionedAt).toFixed(1)} s, ` : ''}` +
        `firing ${(firingAt - partitionedAt).toFixed(1)} s after the partition`,
    );
    expect(firing.labels).toMatchObject({
      job: 'swapnet',
      node: 'a',
      role: 'a',
      topology,
      severity: 'critical',
    });
    expect(Number(firing.value)).toBeGreaterThan(0);
    expect(firing.annotations.summary).toBe(
      `Swap writeout stalled on machine a of topology ${topology}`,
    );
    // What the alert stands on, as Prometheus sees it now.
    const pending = await promQuery(
      prom.url,
      `swapnet_swap_writeout_pending{topology="${topology}"}`,
    );
    expect(Number(pending[0]?.value?.[1])).toBeGreaterThan(0);
    const fault = await promQuery(
      prom.url,
      `swapnet_fault_active{topology="${topology}", target="c", mode="stall"}`,
    );
    expect(fault[0]?.value?.[1]).toBe('1');
  });

  it('sees the heal: swapnet_fault_active back to 0 for C', async () => {
    const r = await runCliProcess(['fault', 'heal', '--target', 'c'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('swapnet_fault_active 0 for c in Prometheus', async () => {
      const v = await promQuery(
        prom.url,
        `swapnet_fault_active{topology="${topology}", target="c", mode="stall"}`,
      );
      return v[0]?.value?.[1] === '0' ? true : undefined;
    });
  });

  it('returns data for every query of the Grafana dashboard over the run', async () => {
    const end = Math.ceil(now());
    const substitute = (expr: string): string => {
      const out = expr
        .replaceAll('$topology', topology)
        .replaceAll('$__rate_interval', RATE_INTERVAL);
      expect(out, `a variable this test does not know in ${expr}`).not.toContain('$');
      return out;
    };
    const queries = [
      ...dashboard.panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
      ),
      ...dashboard.annotations.list.flatMap((a) =>
        a.expr ? [{ where: `annotation "${a.name}"`, expr: a.expr }] : [],
      ),
    ];
    expect(queries.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const q of queries) {
      const series = await promQueryRange(prom.url, substitute(q.expr), startedAt, end);
      const points = series.reduce((n, s) => n + (s.values?.length ?? 0), 0);
      if (points === 0) empty.push(`${q.where}: ${q.expr}`);
    }
    expect(empty).toEqual([]);

    // The Faults annotation shades the partition: C, stall, 1 for some seconds.
    const faults = dashboard.annotations.list.find((a) => a.name === 'Faults')?.expr as string;
    const shaded = await promQueryRange(prom.url, substitute(faults), startedAt, end);
    expect(shaded.map((s) => [s.metric.target, s.metric.mode])).toEqual([['c', 'stall']]);
    expect(shaded[0]?.values?.length).toBeGreaterThan(5);

    // The topology variable (label_values(up{job="swapnet"}, topology)) offers this one.
    const values = await promApi<string[]>(prom.url, '/api/v1/label/topology/values', {
      'match[]': 'up{job="swapnet"}',
    });
    expect(values).toContain(topology);
  });

  it('raises the node-down companion when the topology goes away (absent targets)', async () => {
    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    expect(exit.code, cli.stderr().slice(-2000)).toBe(0);
    // `up` removed its targets file: Prometheus drops the targets, their series go stale.
    const down = await waitFor(
      'SwapnetNodeDown for role a',
      async () => {
        const alerts = (await promAlerts(prom.url)).filter(
          (a) => a.labels.alertname === 'SwapnetNodeDown' && a.labels.role === 'a',
        );
        return alerts.length > 0 ? alerts : undefined;
      },
      30_000,
    );
    expect(down[0]?.labels).toMatchObject({ job: 'swapnet', role: 'a' });
  });
});
