// The built-in scenarios (DESIGN.md section 7). Times are seconds from the moment every
// node is ready. The load is chosen so that, while C answers, A swaps steadily and the
// service keeps up with B: the hogs initialise their memory flat out (the first ~4 s
// swap hard), then touch 500 pages a second each; the service's hot set stays resident
// and B's data is consumed as it comes. It is the partition that freezes the service (on
// a swap-in of a page of its long tail) and lets B's backlog grow.

/** hog at 0, flood once the hogs' first pass is done, partition C 6 s later for 8 s. */
const HOG_AT = 0;
const FLOOD_AT = 4;
const FAULT_AT = 10;
const HEAL_AT = 18;
const END_AT = 30;

const START = [
  { at: HOG_AT, do: 'start', workload: 'hog' },
  { at: FLOOD_AT, do: 'start', workload: 'flood' },
] as const;

/** START, then C stalled from FAULT_AT until `healAt`, and the end at `endAt`. */
function partitionOfC(healAt: number, endAt: number) {
  return [
    ...START,
    { at: FAULT_AT, do: 'fault', target: 'c' },
    { at: healAt, do: 'heal', target: 'c' },
    { at: endAt, do: 'end' },
  ] as const;
}

/**
 * A heal whose time follows the knob fault.durationSeconds (its default, 8 s, puts it
 * at HEAL_AT): a sweep can take the partition's length as an axis. Later actions move
 * with it (orchestrator/scenario.ts resolveTimeline).
 */
const BY_KNOB = { length: 'fault.durationSeconds' } as const;

/** partitionOfC(HEAL_AT, END_AT) with its length from fault.durationSeconds. */
function canonicalPartition() {
  return [
    ...START,
    { at: FAULT_AT, do: 'fault', target: 'c' },
    { at: HEAL_AT, do: 'heal', target: 'c', ...BY_KNOB },
    { at: END_AT, do: 'end' },
  ] as const;
}

/** A machine that swaps steadily and serves B comfortably while C answers. */
const BASE_KNOBS = {
  'hog.tasks': 2,
  'hog.workingSetRatio': 1.2,
  'hog.pagesPerBatch': 16,
  'hog.batchIntervalMs': 32,
  'service.workingSetMiB': 32,
  'service.hotSetMiB': 4,
  'service.coldTouchRatio': 0.02,
  'flood.connections': 64,
  'flood.rate': 2000,
} as const;

export const BUILTIN_SCENARIOS = [
  {
    name: 'partition-c',
    description:
      "The canonical one (seed 004): A swaps to C and serves B's flood; C stalls for 8 s, then comes back. Does writeout complete?",
    knobs: { ...BASE_KNOBS },
    timeline: canonicalPartition(),
    stallWindowSeconds: 10,
  },
  {
    name: 'quiet-partition',
    description:
      "The control: the same partition without B's flood. Free memory stays above GFP_ATOMIC's floor and it heals.",
    knobs: { ...BASE_KNOBS },
    timeline: [
      { at: HOG_AT, do: 'start', workload: 'hog' },
      { at: FAULT_AT, do: 'fault', target: 'c' },
      { at: HEAL_AT, do: 'heal', target: 'c', ...BY_KNOB },
      { at: END_AT, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'partition-c-clean',
    description:
      'partition-c with a lot of clean page cache (a reader fills 40% of RAM first): reclaim has pages it can free without writeout (seed 004 on recursive reclaim).',
    knobs: { ...BASE_KNOBS, 'reader.pages': 26000 },
    timeline: [
      { at: 0, do: 'start', workload: 'reader' },
      ...START.map((a) => ({ ...a, at: a.at + 1 })),
      { at: FAULT_AT + 1, do: 'fault', target: 'c' },
      { at: HEAL_AT + 1, do: 'heal', target: 'c', ...BY_KNOB },
      { at: END_AT + 1, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'memalloc-dynamic',
    description:
      "Seed 001's dynamic pool: a short partition with 20 s after the heal, time enough for an emergency-grown pool to shrink back (10 s after the last emergency). Compare memalloc and memalloc-dynamic: watch the pool's size and held pages.",
    knobs: { ...BASE_KNOBS },
    timeline: partitionOfC(FAULT_AT + 4, FAULT_AT + 24),
    stallWindowSeconds: 10,
  },
  {
    name: 'long-partition',
    description:
      "Mel Gorman's open question: the wire unplugged for a long time (60 s), then plugged back.",
    knobs: { ...BASE_KNOBS },
    timeline: partitionOfC(FAULT_AT + 60, FAULT_AT + 72),
    stallWindowSeconds: 10,
  },
  {
    name: 'flapping',
    description: 'C comes and goes: five 2 s stalls, 2 s apart.',
    knobs: { ...BASE_KNOBS },
    timeline: [
      ...START,
      ...[0, 4, 8, 12, 16].flatMap((d) => [
        { at: FAULT_AT + d, do: 'fault', target: 'c' } as const,
        { at: FAULT_AT + d + 2, do: 'heal', target: 'c' } as const,
      ]),
      { at: FAULT_AT + 30, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'c-restart',
    description:
      'C stalls, is killed and restarted on its store during the partition; A must reconnect and find every page.',
    knobs: { ...BASE_KNOBS },
    timeline: [
      ...START,
      { at: FAULT_AT, do: 'fault', target: 'c' },
      { at: FAULT_AT + 4, do: 'restart', target: 'c' },
      { at: HEAL_AT, do: 'heal', target: 'c' },
      { at: END_AT, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'dm-crypt',
    description:
      'Swap behind dm-crypt (seed 000): each writeout takes a bounce page from a mempool; compare the mempool strategies.',
    knobs: { ...BASE_KNOBS, 'swap.dmcrypt': true },
    timeline: canonicalPartition(),
    stallWindowSeconds: 10,
  },
  {
    name: 'writeout-starved',
    description:
      "Seed 004's recursive reclaim: the swap transport allocates 8 pages per request (more than the reserve holds for a full queue) while a reader keeps re-reading 62 MiB of files, so clean page cache lives beside the anon pages. No partition, no flood. Under memalloc the reserve runs out; --set vm.recursiveReclaim=true refills it from clean pages; --set reader.pages=0 is the anon-only side.",
    // Era 3.6: the NBD thread sends under PF_MEMALLOC (its buffers come from the reserve),
    // and without memalloc sockets receive stays on GFP_ATOMIC (nothing tossed): the
    // writeout path's own allocations are what can starve.
    knobs: {
      ...BASE_KNOBS,
      era: '3.6',
      'swap.transportPagesPerRequest': 8,
      'reader.pages': 16000,
      'reader.rereadMs': 100,
    },
    timeline: [
      { at: 0, do: 'start', workload: 'reader' },
      { at: 1, do: 'start', workload: 'hog' },
      { at: 25, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'memcg-service',
    description:
      'The service in a memory cgroup with memory.high, allocating kernel memory per message (seed 002): is memory.high enforced?',
    knobs: {
      ...BASE_KNOBS,
      'memcg.service': true,
      'memcg.highMiB': 8,
      'memcg.maxMiB': 64,
      // A kernel-memory-heavy service (seed 002): 4 MiB of its own pages, none touched
      // per message, and B's 2000 messages a second, 2 pages each living 1 s, hold
      // ~16 MiB of kernel memory when nothing slows the service, twice memory.high.
      'service.touchesPerMessage': 0,
      'service.workingSetMiB': 4,
      'service.hotSetMiB': 4,
      'service.kmemPagesPerMessage': 2,
      'service.kmemHoldMs': 1000,
    },
    timeline: [...START, { at: 20, do: 'end' }],
    stallWindowSeconds: 10,
  },
  {
    name: 'nofail-livelock',
    description:
      'The service allocates with __GFP_NOFAIL and without __GFP_FS or __GFP_IO (seed 003); C stalls and never comes back: retries forever, no OOM kill.',
    // The service's only work per message is a GFP_NOIO | __GFP_NOFAIL page (journal
    // memory, say) that lives 60 s: it touches none of its own pages and takes no other
    // buffer, so it never sleeps on a swap-in or on the swap queue as in partition-c.
    // The held memory grows, the hogs are swapped out to make room while C answers;
    // once C is gone, nothing can.
    knobs: {
      ...BASE_KNOBS,
      'service.nofail': true,
      'service.touchesPerMessage': 0,
      'service.allocPagesPerMessage': 0,
      'service.kmemHoldMs': 60_000,
    },
    timeline: [...START, { at: FAULT_AT, do: 'fault', target: 'c' }, { at: END_AT, do: 'end' }],
    stallWindowSeconds: 10,
  },
] as const;
