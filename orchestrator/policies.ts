// Policies: named presets of model knobs (DESIGN.md section 6). A policy only sets
// knobs; what happens comes from the model. Some presets depend on other knobs (20% of
// RAM), so a policy is a function of the knobs it is applied to.
import { deriveSysctls } from '../reserve/sysctl-defaults.ts';
import type { Knobs } from '../nodes/knobs.ts';

export interface Policy {
  readonly name: string;
  readonly seed: string;
  readonly summary: string;
  /** The knobs this policy sets, given the knobs so far. */
  readonly apply: (k: Knobs) => Partial<Knobs>;
}

// The pfmemalloc throttle (throttle_direct_reclaim) is in every kernel since 3.6 whatever
// the workload (kernel-reference 2): on by default for every policy, not set by one.
const memalloc = { 'net.memallocSwapSocket': true } as const;

export const POLICIES: readonly Policy[] = [
  {
    name: 'vanilla',
    seed: '004',
    summary:
      'the swap socket is not SOCK_MEMALLOC (a userspace NBD or TLS proxy today; with --era 2.6, the kernel before swap over NBD)',
    apply: () => ({ 'net.memallocSwapSocket': false }),
  },
  {
    name: 'min-free-20',
    seed: '004',
    summary:
      "vanilla with vm.min_free_kbytes at 20% of RAM (Christoph Lameter's suggestion, and its cost)",
    apply: (k) => ({
      'net.memallocSwapSocket': false,
      'vm.minFreeKbytes': Math.floor(k['mem.ramMiB'] * 1024 * 0.2),
    }),
  },
  {
    name: 'recursive-reclaim',
    seed: '004',
    summary:
      'vanilla, but a reserve user that fails reclaims clean pages without starting writeout',
    apply: () => ({ 'net.memallocSwapSocket': false, 'vm.recursiveReclaim': true }),
  },
  {
    name: 'memalloc',
    seed: '004',
    summary: 'SOCK_MEMALLOC swap socket, __GFP_MEMALLOC receive, pfmemalloc tossing (3.6)',
    apply: () => ({ ...memalloc }),
  },
  {
    name: 'memalloc-dynamic',
    seed: '001',
    summary: 'memalloc with the dynamic emergency page cache instead of the static reserve',
    apply: () => ({ ...memalloc, 'reserve.strategy': 'dynamic' }),
  },
  {
    name: 'mempool-kernel',
    seed: '000',
    summary:
      "memalloc, plus dm-crypt on swap; mempool_alloc in the kernel's order (allocator without reclaim, pool, full mask, wait)",
    apply: () => ({ ...memalloc, 'swap.dmcrypt': true, 'mempool.strategy': 'kernel' }),
  },
  {
    name: 'mempool-pool-first',
    seed: '000',
    summary: 'memalloc, plus dm-crypt on swap; the preallocated pool is used before the allocator',
    apply: () => ({ ...memalloc, 'swap.dmcrypt': true, 'mempool.strategy': 'pool-first' }),
  },
  {
    name: 'mempool-allocator-reclaim',
    seed: '000',
    summary:
      'memalloc, plus dm-crypt on swap; the allocator with direct reclaim first (can throttle the writeout path)',
    apply: () => ({ ...memalloc, 'swap.dmcrypt': true, 'mempool.strategy': 'allocator-reclaim' }),
  },
  {
    name: 'mempool-no-reclaim',
    seed: '000',
    summary:
      'memalloc, plus dm-crypt on swap; mempool_alloc never enters direct reclaim: allocator without it, pool, then wait on the pool',
    apply: () => ({ ...memalloc, 'swap.dmcrypt': true, 'mempool.strategy': 'no-reclaim' }),
  },
  {
    name: 'mempool-less-throttle',
    seed: '000',
    summary:
      "memalloc, plus dm-crypt on swap; the kernel's order, kcryptd exempt from throttle_vm_writeout (PF_LESS_THROTTLE)",
    apply: () => ({ ...memalloc, 'swap.dmcrypt': true, 'mempool.strategy': 'less-throttle' }),
  },
  {
    name: 'nofail',
    seed: '003',
    summary:
      "the service's per-message allocations are GFP_NOIO | __GFP_NOFAIL (no __GFP_FS: no OOM kill)",
    apply: () => ({ 'service.nofail': true }),
  },
  {
    name: 'memcg-2015',
    seed: '002',
    summary:
      'the service in a memcg; kernel memory charged without reclaim skips memory.high (the 2015 bug)',
    apply: () => ({ 'memcg.service': true, 'memcg.kmemChargeWithoutReclaim': true }),
  },
  {
    name: 'memcg-fixed',
    seed: '002',
    summary: 'the service in a memcg; memory.high enforced at the return to user space (the fix)',
    apply: () => ({ 'memcg.service': true, 'memcg.kmemChargeWithoutReclaim': false }),
  },
];

export function findPolicy(name: string): Policy | undefined {
  return POLICIES.find((p) => p.name === name);
}

/** What min-free-20 costs: memory the watermarks keep out of use, in MiB. */
export function reservedMiB(k: Knobs): number {
  const s = deriveSysctls(
    k['mem.ramMiB'] * 1024 * 1024,
    k['vm.minFreeKbytes'] !== null ? { minFreeKbytes: k['vm.minFreeKbytes'] } : {},
  );
  return (s.watermarks.high * 4096) / (1024 * 1024);
}
