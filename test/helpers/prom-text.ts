// Reading a Prometheus text exposition in tests: every sample line `name{labels} value`
// parsed into a lookup by series. Comments (# HELP, # TYPE) are skipped; a line that is
// neither a comment nor a sample throws, so a broken exposition fails the test that reads it.

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromText {
  readonly samples: readonly PromSample[];
  /**
   * The value of the one series of `name` whose labels include every one in `labels`;
   * undefined when there is none. Throws when several series match (ask more precisely).
   */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** Every series of `name`, keyed by seriesKey() of its labels less those in `omit`. */
  series(name: string, omit?: readonly string[]): ReadonlyMap<string, number>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

/** `name{a="x",b="y"}` with labels sorted by name (`name` alone when there are none). */
export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) throw new Error(`bad labels at ${at} in exposition line: ${line}`);
    labels[m[1] as string] = unescapeLabel(m[2] as string);
  }
  return labels;
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`bad value in exposition line: ${line}`);
  return v;
}

/** Parses an exposition; throws on a line that is not a comment, blank, or a sample. */
export function parsePromText(text: string): PromText {
  const samples: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line in exposition: ${line}`);
    samples.push({
      name: m[1] as string,
      labels: m[2] === undefined ? {} : parseLabels(m[2], line),
      value: parseValue(m[3] as string, line),
    });
  }
  return {
    samples,
    value(name, labels = {}) {
      const found = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      if (found.length > 1) {
        throw new Error(
          `${found.length} series match ${seriesKey(name, labels)}: ${found
            .map((s) => seriesKey(s.name, s.labels))
            .join(', ')}`,
        );
      }
      return found[0]?.value;
    },
    series(name, omit = []) {
      const out = new Map<string, number>();
      for (const s of samples) {
        if (s.name !== name) continue;
        const kept = Object.fromEntries(
          Object.entries(s.labels).filter(([k]) => !omit.includes(k)),
        );
        out.set(seriesKey(name, kept), s.value);
      }
      return out;
    },
  };
}
