// dashboards/ hangs together without Docker or Grafana (neither runs in CI): the compose
// file starts Prometheus and Grafana on the host network with mounts that exist, and its
// Prometheus reads the same prometheus.yml a host Prometheus does; Grafana's provisioning
// points at the dashboards and at a datasource whose uid every query of the dashboard
// uses; the dashboard has the panels DESIGN.md section 11 asks for, a unit on every one,
// the topology variable in every query, fault periods as annotations, and only metrics
// the nodes export. (Prometheus runs these queries for real in test/e2e/prometheus-live.)
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const DASHBOARDS = join(ROOT, 'dashboards');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

const readYaml = (path: string): unknown => parse(readFileSync(join(DASHBOARDS, path), 'utf8'));

interface Service {
  image: string;
  network_mode?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes: string[];
}
interface Compose {
  services: Record<string, Service>;
}
interface Target {
  datasource: { type: string; uid: string };
  expr: string;
  refId: string;
  legendFormat?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  fieldConfig?: { defaults: { unit?: string } };
}
interface Annotation {
  name: string;
  datasource: { type: string; uid: string };
  expr?: string;
  step?: string;
  builtIn?: number;
  enable: boolean;
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  annotations: { list: Annotation[] };
  templating: {
    list: { name: string; type: string; datasource: { uid: string }; query: string }[];
  };
}

const compose = readYaml('compose.yaml') as Compose;
const dashboard = JSON.parse(
  readFileSync(join(DASHBOARDS, 'grafana/dashboards/swapnet.json'), 'utf8'),
) as Dashboard;
const datasources = readYaml('grafana/provisioning/datasources/prometheus.yml') as {
  datasources: { uid: string; type: string; url: string; jsonData: { timeInterval: string } }[];
};
const providers = readYaml('grafana/provisioning/dashboards/swapnet.yml') as {
  providers: { type: string; options: { path: string } }[];
};
const prometheusYml = readYaml('prometheus/prometheus.yml') as {
  global: { scrape_interval: string; evaluation_interval: string };
  rule_files: string[];
  scrape_configs: { job_name: string; file_sd_configs: { files: string[] }[] }[];
};

/** Host path -> container path of each bind mount of `service` (host paths absolute). */
function mounts(service: Service): { host: string; container: string; ro: boolean }[] {
  return service.volumes.map((v) => {
    const [host, container, mode] = v.split(':');
    expect(host, v).toMatch(/^\.\//); // relative to dashboards/: works from any checkout
    return {
      host: resolve(DASHBOARDS, host as string),
      container: container as string,
      ro: mode === 'ro',
    };
  });
}

/** The host path a container path of `service` maps to, through its mounts. */
function hostPathOf(service: Service, containerPath: string): string | undefined {
  for (const m of mounts(service)) {
    if (containerPath === m.container) return m.host;
    if (containerPath.startsWith(m.container + '/'))
      return join(m.host, posix.relative(m.container, containerPath));
  }
  return undefined;
}

const panels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.annotations.list.flatMap((a) => (a.expr ? [a.expr] : [])),
];

describe('compose.yaml', () => {
  const prometheus = compose.services.prometheus as Service;
  const grafana = compose.services.grafana as Service;

  it('starts Prometheus and Grafana on the host network (the nodes listen on 127.0.0.1)', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'prometheus']);
    for (const s of [prometheus, grafana]) {
      expect(s.network_mode).toBe('host');
      // A pinned image, never :latest.
      expect(s.image).toMatch(/^[a-z/-]+:v?\d+\.\d+\.\d+$/);
    }
  });

  it('mounts only files and folders that exist, read-only', () => {
    for (const s of [prometheus, grafana]) {
      for (const m of mounts(s)) {
        expect(existsSync(m.host), m.host).toBe(true);
        expect(m.ro, `${m.host} is mounted read-only`).toBe(true);
      }
    }
  });

  it('gives Prometheus the same prometheus.yml a host Prometheus reads, and its folder (targets/, rules)', () => {
    const flag = (name: string): string | undefined =>
      prometheus.command?.find((c) => c.startsWith(`--${name}=`))?.slice(name.length + 3);
    const config = hostPathOf(prometheus, flag('config.file') as string);
    expect(config).toBe(join(DASHBOARDS, 'prometheus', 'prometheus.yml'));
    // The folder, not the file: `swapnet up` rewrites its targets file (a new inode).
    const configDir = posix.dirname(flag('config.file') as string);
    expect(statSync(hostPathOf(prometheus, configDir) as string).isDirectory()).toBe(true);
    for (const rules of prometheusYml.rule_files)
      expect(existsSync(join(DASHBOARDS, 'prometheus', rules)), rules).toBe(true);
    // Grafana's datasource reaches this Prometheus.
    const listen = flag('web.listen-address');
    expect(datasources.datasources[0]?.url).toBe(`http://${listen}`);
  });

  it('provisions the datasource and the dashboards into Grafana', () => {
    const provisioning = hostPathOf(grafana, '/etc/grafana/provisioning');
    expect(provisioning).toBe(join(DASHBOARDS, 'grafana', 'provisioning'));
    for (const p of providers.providers) {
      expect(p.type).toBe('file');
      const dir = hostPathOf(grafana, p.options.path) as string;
      expect(existsSync(join(dir, 'swapnet.json')), dir).toBe(true);
    }
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string;
    expect(hostPathOf(grafana, home)).toBe(
      join(DASHBOARDS, 'grafana', 'dashboards', 'swapnet.json'),
    );
  });
});

describe('prometheus.yml', () => {
  it('scrapes the targets files `swapnet up --targets-file` writes under targets/, every second', () => {
    expect(prometheusYml.global.scrape_interval).toBe('1s');
    expect(prometheusYml.global.evaluation_interval).toBe('1s');
    const [job] = prometheusYml.scrape_configs;
    expect(job?.job_name).toBe('swapnet');
    expect(job?.file_sd_configs[0]?.files).toEqual(['targets/*.json']);
    expect(statSync(join(DASHBOARDS, 'prometheus', 'targets')).isDirectory()).toBe(true);
    // The rules and the dashboard select that job.
    const rules = readFileSync(join(DASHBOARDS, 'prometheus', 'rules.yml'), 'utf8');
    expect(rules).toContain('up{job="swapnet", role=~"a|b|c"} == 0');
    expect(exprs.some((e) => e.includes('up{job="swapnet"'))).toBe(true);
  });
});

describe('the Grafana dashboard', () => {
  const uid = datasources.datasources[0]?.uid as string;

  it('uses the provisioned Prometheus by uid everywhere', () => {
    expect(datasources.datasources).toHaveLength(1);
    expect(datasources.datasources[0]?.type).toBe('prometheus');
    expect(uid).toBe('swapnet-prometheus');
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe(uid);
      for (const t of p.targets ?? []) expect(t.datasource.uid, p.title).toBe(uid);
    }
    for (const a of dashboard.annotations.list.filter((x) => !x.builtIn))
      expect(a.datasource.uid, a.name).toBe(uid);
    for (const v of dashboard.templating.list) expect(v.datasource.uid, v.name).toBe(uid);
  });

  it('has a variable for the topology, used by every query', () => {
    const v = dashboard.templating.list.find((x) => x.name === 'topology');
    expect(v?.type).toBe('query');
    // The label every target of a targets file carries (orchestrator/commands/up.ts).
    expect(v?.query).toBe('label_values(up{job="swapnet"}, topology)');
    for (const e of exprs) expect(e, e).toContain('topology="$topology"');
  });

  it('sets a unit on every panel, and gives each a title, a description and a query', () => {
    expect(panels.length).toBeGreaterThanOrEqual(12);
    for (const p of panels) {
      const unit = p.fieldConfig?.defaults.unit ?? '';
      expect(unit, p.title).not.toBe('');
      expect(['short', 'none'], p.title).not.toContain(unit);
      expect(p.description ?? '', p.title).not.toBe('');
      expect((p.targets ?? []).length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.expr.trim(), p.title).not.toBe('');
    }
  });

  it('lays panels out on the 24-column grid without overlap, with unique ids', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          const cell = `${i},${j}`;
          expect(cells.has(cell), `${p.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
    }
  });

  it('has the panels of DESIGN.md section 11', () => {
    const panelUsing = (pattern: RegExp): Panel | undefined =>
      panels.find((p) => (p.targets ?? []).some((t) => pattern.test(t.expr)));
    const required: [string, RegExp[]][] = [
      [
        'memory by state against the watermarks',
        [/swapnet_mem_pages/, /swapnet_mem_watermark_pages/],
      ],
      ['reserve use', [/swapnet_reserve_used_pages/, /swapnet_reserve_size_pages/]],
      [
        'writeout issued/completed',
        [/rate\(swapnet_swap_writeout_issued_total/, /rate\(swapnet_swap_writeout_completed_total/],
      ],
      ['writeout pending', [/swapnet_swap_writeout_pending/]],
      ['writeout latency', [/histogram_quantile\(.*swapnet_swap_writeout_duration_seconds_bucket/]],
      ['RX drops by reason', [/sum by \(reason\) \(rate\(swapnet_rx_drops_total/]],
      [
        "whose packets were tossed (C's replies against B's data)",
        [
          /swapnet_rx_drops_total\{reason="pfmemalloc", socket_class="swap"/,
          /swapnet_rx_drops_total\{reason="pfmemalloc", socket_class="service"/,
        ],
      ],
      ['tcp_mem', [/swapnet_tcp_mem_pages/, /swapnet_tcp_mem_limit_pages/]],
      ['throttling', [/swapnet_direct_reclaim_throttled_total/]],
      ['OOM', [/swapnet_oom_kills_total/]],
      ['node health', [/^up\{job="swapnet"/]],
      ['fault periods', [/swapnet_fault_active/]],
    ];
    for (const [what, patterns] of required)
      for (const pattern of patterns)
        expect(panelUsing(pattern), `${what}: ${pattern}`).toBeDefined();
  });

  it('shades fault periods with an annotation on swapnet_fault_active, sampled every second', () => {
    const faults = dashboard.annotations.list.find((a) => a.expr?.includes('swapnet_fault_active'));
    expect(faults?.enable).toBe(true);
    // Grafana samples annotation queries every 60 s unless told: a 10 s partition would vanish.
    expect(faults?.step).toBe('1s');
  });

  it('queries only metrics the nodes and the CLI export (the README metrics table)', () => {
    const names = new Set<string>();
    for (const e of exprs)
      for (const m of e.matchAll(/\b(swapnet_[a-z_]+)/g))
        names.add((m[1] as string).replace(/_(bucket|count|sum)$/, ''));
    expect(names.size).toBeGreaterThan(20);
    expect([...names].filter((n) => !README.includes(`| \`${n}\``))).toEqual([]);
  });
});
