// The built-in scenarios (DESIGN.md section 7). Times are seconds from the moment every
// node is ready. Loads are chosen so that the service keeps up with B while C answers:
// then it is the partition that freezes the service and lets B's backlog grow.

const START = [
  { at: 0, do: 'start', workload: 'hog' },
  { at: 4, do: 'start', workload: 'flood' },
] as const;

/** A machine that swaps steadily and serves B comfortably while C answers. */
const BASE_KNOBS = {
  'hog.tasks': 2,
  'service.workingSetMiB': 32,
  'service.hotSetMiB': 4,
  'service.coldTouchRatio': 0.05,
  'flood.connections': 64,
  'flood.rate': 2000,
} as const;

export const BUILTIN_SCENARIOS = [
  {
    name: 'partition-c',
    description:
      "The canonical one (seed 004): A swaps to C and serves B's flood; C stalls for 10 s, then comes back. Does writeout complete?",
    knobs: { ...BASE_KNOBS },
    timeline: [
      ...START,
      { at: 12, do: 'fault', target: 'c' },
      { at: 22, do: 'heal', target: 'c' },
      { at: 40, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'quiet-partition',
    description:
      "The control: the same partition without B's flood. Free memory stays above GFP_ATOMIC's floor and it heals.",
    knobs: { ...BASE_KNOBS },
    timeline: [
      { at: 0, do: 'start', workload: 'hog' },
      { at: 12, do: 'fault', target: 'c' },
      { at: 22, do: 'heal', target: 'c' },
      { at: 40, do: 'end' },
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
      { at: 1, do: 'start', workload: 'hog' },
      { at: 5, do: 'start', workload: 'flood' },
      { at: 13, do: 'fault', target: 'c' },
      { at: 23, do: 'heal', target: 'c' },
      { at: 41, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'long-partition',
    description:
      "Mel Gorman's open question: the wire unplugged for a long time (60 s), then plugged back.",
    knobs: { ...BASE_KNOBS },
    timeline: [
      ...START,
      { at: 12, do: 'fault', target: 'c' },
      { at: 72, do: 'heal', target: 'c' },
      { at: 90, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'flapping',
    description: 'C comes and goes: five 3 s stalls, 3 s apart.',
    knobs: { ...BASE_KNOBS },
    timeline: [
      ...START,
      { at: 10, do: 'fault', target: 'c' },
      { at: 13, do: 'heal', target: 'c' },
      { at: 16, do: 'fault', target: 'c' },
      { at: 19, do: 'heal', target: 'c' },
      { at: 22, do: 'fault', target: 'c' },
      { at: 25, do: 'heal', target: 'c' },
      { at: 28, do: 'fault', target: 'c' },
      { at: 31, do: 'heal', target: 'c' },
      { at: 34, do: 'fault', target: 'c' },
      { at: 37, do: 'heal', target: 'c' },
      { at: 55, do: 'end' },
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
      { at: 12, do: 'fault', target: 'c' },
      { at: 17, do: 'restart', target: 'c' },
      { at: 22, do: 'heal', target: 'c' },
      { at: 40, do: 'end' },
    ],
    stallWindowSeconds: 10,
  },
  {
    name: 'dm-crypt',
    description:
      'Swap behind dm-crypt (seed 000): each writeout takes a bounce page from a mempool; compare the mempool strategies.',
    knobs: { ...BASE_KNOBS, 'swap.dmcrypt': true },
    timeline: [
      ...START,
      { at: 12, do: 'fault', target: 'c' },
      { at: 22, do: 'heal', target: 'c' },
      { at: 40, do: 'end' },
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
      'memcg.highMiB': 24,
      'memcg.maxMiB': 64,
      'service.kmemPagesPerMessage': 1,
    },
    timeline: [...START, { at: 30, do: 'end' }],
    stallWindowSeconds: 10,
  },
  {
    name: 'nofail-livelock',
    description:
      'The service allocates with __GFP_NOFAIL and without __GFP_FS (seed 003); C stalls and never comes back: retries forever, no OOM kill.',
    knobs: { ...BASE_KNOBS, 'service.nofail': true },
    timeline: [...START, { at: 12, do: 'fault', target: 'c' }, { at: 40, do: 'end' }],
    stallWindowSeconds: 10,
  },
] as const;
