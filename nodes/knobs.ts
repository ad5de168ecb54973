// Every model knob, by dotted key (DESIGN.md section 6): one schema (zod, unknown keys
// refused), with defaults and a description each. Policies and eras are presets of these
// values; `--set key=value` sets one; `swapnet list` prints them all. Nothing in the model
// reads a policy's name: only these values.
import { z } from 'zod';
import { ConfigError } from '../reserve/errors.ts';
import { IO_SCHEDULERS } from '../reserve/io-scheduler.ts';
import { MEMPOOL_STRATEGIES } from '../reserve/mempool.ts';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const nullableInt = (min: number, max: number) => int(min, max).nullable();

/** key -> [schema, default, description]. */
export const KNOB_SPECS = {
  era: [
    z.enum(['2.6', '3.6', 'modern']),
    'modern',
    'kernel era: 2.6 (no memalloc sockets), 3.6, modern',
  ],
  'mem.ramMiB': [int(16, 65536), 256, "machine A's RAM in MiB"],
  'vm.minFreeKbytes': [
    nullableInt(128, 64 * 1024 * 1024),
    null,
    'vm.min_free_kbytes (null: the kernel formula)',
  ],
  'vm.watermarkScaleFactor': [int(1, 3000), 10, 'vm.watermark_scale_factor'],
  'vm.pfmemallocThrottle': [
    z.boolean(),
    true,
    'throttle direct reclaimers on pfmemalloc_wait: in every kernel since 3.6 (none in era 2.6)',
  ],
  'vm.dirtyRatio': [
    int(1, 100),
    20,
    'vm.dirty_ratio: throttle_vm_writeout (eras 2.6, 3.6) waits while writeback exceeds it (+10%)',
  ],
  'vm.recursiveReclaim': [
    z.boolean(),
    false,
    'reserve users that fail reclaim clean pages without writeout (seed 004)',
  ],
  'reserve.strategy': [
    z.enum(['static', 'dynamic']),
    'static',
    'static reserve below min, or the dynamic emergency cache (seed 001)',
  ],
  'reserve.dynamicBasePages': [int(0, 1 << 20), 5, 'dynamic reserve: pages kept in normal times'],
  'reserve.dynamicMaxPages': [
    int(1, 1 << 22),
    512,
    'dynamic reserve: the most it grows to after emergencies',
  ],
  'net.tcpMem': [
    z.tuple([int(1, 1 << 30), int(1, 1 << 30), int(1, 1 << 30)]).nullable(),
    null,
    'net.ipv4.tcp_mem in pages (null: derived from RAM)',
  ],
  'net.rcvbufBytes': [
    nullableInt(1024, 1 << 30),
    null,
    "every A socket's receive buffer (null: tcp_rmem[1] of the era)",
  ],
  'net.memallocSwapSocket': [
    z.boolean(),
    false,
    'mark the swap socket SOCK_MEMALLOC (needs era 3.6+)',
  ],
  'net.nicReserve': [
    z.enum(['era', 'never']),
    'era',
    "A's NIC: receive buffers may come from the reserve as the era's drivers allow (era), or never (plain GFP_ATOMIC, nothing tagged pfmemalloc: UML's vector driver)",
  ],
  'net.rtoMinMs': [int(1, 60_000), 200, 'first retransmission timeout'],
  'net.rtoMaxMs': [int(1, 600_000), 3000, 'retransmission back-off cap'],
  'swap.queueDepth': [
    int(1, 65536),
    128,
    "the swap device's tags: requests sent to C and not yet answered, at most",
  ],
  'swap.ioScheduler': [
    z.enum(IO_SCHEDULERS),
    'mq-deadline',
    'the elevator in front of the swap device: mq-deadline (reads first) or none',
  ],
  'swap.sndbufBytes': [int(4096, 1 << 30), 16384, "the swap socket's send buffer (tcp_wmem[1])"],
  'swap.sizeMiB': [nullableInt(1, 1 << 22), null, 'swap device size (null: twice the RAM)'],
  'swap.transport': [
    z.enum(['kernel', 'userspace']),
    'kernel',
    "who sends the swap traffic: the kernel's NBD client (PF_MEMALLOC from 3.6, as the era has it) or a userspace relay (a user task marked PR_SET_IO_FLUSHER: GFP_NOIO, never PF_MEMALLOC)",
  ],
  'swap.transportPagesPerRequest': [
    int(0, 1024),
    0,
    'pages the swap transport allocates per request (GFP_NOIO by the NBD thread), held until the reply',
  ],
  'swap.dmcrypt': [
    z.boolean(),
    false,
    'a dm-crypt stage: a bounce page from a mempool per writeout (seed 000)',
  ],
  'mempool.strategy': [
    z.enum(MEMPOOL_STRATEGIES),
    'kernel',
    'mempool order (seed 000): kernel, pool-first, allocator-reclaim, no-reclaim, less-throttle',
  ],
  'mempool.minNr': [int(0, 1 << 20), 32, "dm-crypt's bounce page pool size"],
  'hog.tasks': [int(0, 256), 4, 'hog tasks touching anonymous memory'],
  'hog.workingSetRatio': [
    z.number().min(0).max(64),
    1.5,
    "the hogs' working set as a multiple of RAM",
  ],
  'hog.pagesPerBatch': [int(1, 1 << 20), 64, 'pages a hog touches between yields'],
  'hog.batchIntervalMs': [
    z.number().min(0).max(10_000),
    1,
    'model time a hog batch costs after the first pass (which runs flat out)',
  ],
  'service.workingSetMiB': [int(1, 1 << 20), 32, "the service's own anonymous memory"],
  'service.touchesPerMessage': [int(0, 1024), 2, 'service pages touched per message from B'],
  'service.hotSetMiB': [
    int(0, 1 << 20),
    4,
    'the part of its working set the service touches most (0: all alike)',
  ],
  'service.coldTouchRatio': [
    z.number().min(0).max(1),
    0.05,
    'share of touches that go anywhere in the working set instead of the hot set',
  ],
  'service.allocPagesPerMessage': [
    int(0, 1024),
    1,
    'pages the service allocates (GFP_KERNEL) and frees per message: a response buffer',
  ],
  'service.nofail': [
    z.boolean(),
    false,
    'per message the service allocates GFP_NOIO | __GFP_NOFAIL (no __GFP_FS, no swap IO; seed 003)',
  ],
  'service.kmemPagesPerMessage': [
    int(0, 1024),
    0,
    'kernel memory the service allocates per message (charged to its memcg)',
  ],
  'service.kmemHoldMs': [
    int(1, 600_000),
    1000,
    "how long a message's kernel memory and NOFAIL allocation live (freed a while after use)",
  ],
  'memcg.service': [z.boolean(), false, 'put the service in a memory cgroup'],
  'memcg.highMiB': [nullableInt(1, 1 << 22), null, "the service cgroup's memory.high (null: max)"],
  'memcg.maxMiB': [nullableInt(1, 1 << 22), null, "the service cgroup's memory.max (null: max)"],
  'memcg.kmemChargeWithoutReclaim': [
    z.boolean(),
    false,
    'the 2015 behaviour: kernel memory charged without reclaim skips memory.high (seed 002)',
  ],
  'reader.pages': [int(0, 1 << 26), 0, 'clean page cache a reader fills before the run'],
  'reader.rereadMs': [
    int(0, 600_000),
    0,
    'the reader re-reads its files this often, refilling what reclaim took (0: reads once)',
  ],
  'flood.connections': [int(0, 100_000), 64, "B's connections to A's service"],
  'flood.ignoreWindow': [z.boolean(), false, "B ignores A's advertised window (a hostile flood)"],
  'flood.rate': [
    z.number().min(0).max(1e9),
    0,
    "B's frames per second in all (0: as fast as windows allow)",
  ],
  'flood.payloadBytes': [int(1, 60_000), 1024, "bytes of payload in each of B's frames"],
  'fault.mode': [
    z.enum(['stall', 'blackhole', 'reset', 'pause', 'loss', 'delay', 'netns']),
    'stall',
    'how C is partitioned',
  ],
  'fault.atSeconds': [
    z.number().min(0).max(1e6).nullable(),
    null,
    'when the fault starts (null: the scenario decides)',
  ],
  'fault.forSeconds': [
    z.number().min(0).max(1e6).nullable(),
    null,
    'how long it lasts (null: the scenario decides)',
  ],
  'fault.durationSeconds': [
    z.number().gt(0).max(1e6),
    8,
    "the partition's length in the built-in partition scenarios: the heal and what follows move",
  ],
  'fault.lossRate': [z.number().min(0).max(1), 0.3, 'loss mode: probability a frame is dropped'],
  'fault.delayMs': [z.number().min(0).max(60_000), 200, 'delay mode: added latency per frame'],
  'fault.jitterMs': [z.number().min(0).max(60_000), 50, 'delay mode: jitter per frame'],
  'time.scale': [
    z.number().gt(0).max(1),
    1,
    'model time per wall time is 1/scale: 0.1 runs kernel delays ten times faster',
  ],
} as const;

export type KnobKey = keyof typeof KNOB_SPECS;
export type Knobs = { readonly [K in KnobKey]: z.infer<(typeof KNOB_SPECS)[K][0]> };

export const KNOB_KEYS = Object.keys(KNOB_SPECS) as KnobKey[];

/** The schema of a complete knob set (every key present). */
export const KnobsSchema = z.strictObject(
  Object.fromEntries(KNOB_KEYS.map((k) => [k, KNOB_SPECS[k][0]])) as {
    [K in KnobKey]: (typeof KNOB_SPECS)[K][0];
  },
);

/** Every knob at its default. */
export function defaultKnobs(): Knobs {
  return Object.fromEntries(KNOB_KEYS.map((k) => [k, KNOB_SPECS[k][1]])) as unknown as Knobs;
}

export function isKnobKey(key: string): key is KnobKey {
  return Object.hasOwn(KNOB_SPECS, key);
}

/** Parses the text of `--set key=value` into the knob's type (JSON where it is not a plain word). */
export function parseValue(key: KnobKey, text: string): unknown {
  const t = text.trim();
  // A value the knob takes as written stays a string (era=2.6 is not the number 2.6).
  if (KNOB_SPECS[key][0].safeParse(t).success) return t;
  if (t === 'null') return null;
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(t)) return Number(t);
  if (t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      throw new ConfigError(key, `"${text}" is not a valid list (e.g. [3036,4048,6072])`);
    }
  }
  // A list written without brackets: 3036,4048,6072
  if (/^\d+(,\d+)+$/.test(t)) return t.split(',').map(Number);
  return t;
}

function describeIssue(value: unknown, issue: z.core.$ZodIssue): string {
  return `${JSON.stringify(value)} is not accepted: ${issue.message}`;
}

/** Validates one value for `key`; throws ConfigError naming the key and the value. */
export function checkKnob(key: string, value: unknown): unknown {
  if (!isKnobKey(key)) {
    throw new ConfigError(
      key,
      `unknown knob; run \`swapnet list\` for the knobs (${KNOB_KEYS.slice(0, 4).join(', ')}, ...)`,
    );
  }
  const r = KNOB_SPECS[key][0].safeParse(value);
  if (!r.success)
    throw new ConfigError(key, describeIssue(value, r.error.issues[0] as z.core.$ZodIssue));
  return r.data;
}

/** Applies `key=value` texts over `base`; throws ConfigError for a bad key or value. */
export function applySets(base: Knobs, sets: readonly string[]): Knobs {
  const out: Record<string, unknown> = { ...base };
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(s, 'expected key=value (e.g. mem.ramMiB=512)');
    const key = s.slice(0, eq).trim();
    if (!isKnobKey(key)) checkKnob(key, undefined);
    out[key] = checkKnob(key, parseValue(key as KnobKey, s.slice(eq + 1)));
  }
  return validateKnobs(out);
}

/** Validates a complete knob object (unknown keys refused); throws ConfigError naming the field. */
export function validateKnobs(value: unknown): Knobs {
  const r = KnobsSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0] as z.core.$ZodIssue;
    const key =
      issue.path.join('.') || (issue.code === 'unrecognized_keys' ? (issue.keys[0] ?? '') : '');
    const v =
      key && typeof value === 'object' && value
        ? (value as Record<string, unknown>)[key]
        : undefined;
    throw new ConfigError(
      key || 'knobs',
      issue.code === 'unrecognized_keys' ? 'unknown knob' : describeIssue(v, issue),
    );
  }
  const k = r.data as Knobs;
  if (k['net.rtoMaxMs'] < k['net.rtoMinMs'])
    throw new ConfigError('net.rtoMaxMs', 'must not be below net.rtoMinMs');
  const tcpMem = k['net.tcpMem'];
  if (tcpMem && !(tcpMem[0] <= tcpMem[1] && tcpMem[1] <= tcpMem[2])) {
    throw new ConfigError(
      'net.tcpMem',
      `${JSON.stringify(tcpMem)} must be ascending (min, pressure, max)`,
    );
  }
  return k;
}
