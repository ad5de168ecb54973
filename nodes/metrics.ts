// One prom-client Registry per node (never the global one), every series labelled with
// the node. Gauges read model state in collect() at scrape time.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createRegistry(node: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node });
  return registry;
}

/** A gauge whose value(s) are read at scrape time. */
export function gaugeFn<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (set: (labels: Partial<Record<L, string>>, value: number) => void) => void,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      read((labels, value) => {
        if (labelNames.length === 0) this.set(value);
        else this.set(labels as Record<L, string>, value);
      });
    },
  });
}

/**
 * A counter that mirrors a monotonic number kept elsewhere (the model's counters): at
 * scrape time it is raised by the difference.
 */
export function counterFn<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (set: (labels: Partial<Record<L, string>>, value: number) => void) => void,
): Counter<L> {
  const seen = new Map<string, number>();
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      read((labels, value) => {
        const key = JSON.stringify(labels);
        const before = seen.get(key) ?? 0;
        if (value > before) {
          if (labelNames.length === 0) this.inc(value - before);
          else this.inc(labels as Record<L, string>, value - before);
          seen.set(key, value);
        } else if (!seen.has(key)) {
          if (labelNames.length === 0) this.inc(0);
          else this.inc(labels as Record<L, string>, 0);
          seen.set(key, value);
        }
      });
    },
  });
}

export { Counter, Gauge, Histogram, Registry };
