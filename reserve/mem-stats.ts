// Counters of machine A's memory model: read by the metrics layer at scrape time and by
// the verdict engine. Plain monotonic numbers; the model only ever increments them.

export class MemStats {
  /** wakeup_kswapd calls that woke a sleeping kswapd (swapnet_kswapd_wakeups_total). */
  kswapdWakeups = 0;
  /** balance_pgdat runs. */
  kswapdRuns = 0;
  /** try_to_free_pages calls. */
  directReclaimCalls = 0;
  /** Direct reclaimers throttled on pfmemalloc_wait (pgscan_direct_throttle). */
  directReclaimThrottled = 0;
  /** reclaim_throttle sleeps (writeback, no progress). */
  reclaimThrottleWaits = 0;
  /** congestion_wait(HZ/10) sleeps in throttle_vm_writeout (before 4.10). */
  throttleVmWriteoutWaits = 0;
  /** Model milliseconds spent in throttle_vm_writeout, all tasks. */
  throttleVmWriteoutMs = 0;
  /** Of them, by kernel threads (dm-crypt's kcryptd: the writeout path itself). */
  throttleVmWriteoutKthreadMs = 0;
  /** Clean file pages freed by reclaim. */
  cleanPagesReclaimed = 0;
  /** Recursive reclaim calls (vm.recursiveReclaim: a reserve user found the reserve empty). */
  recursiveReclaimCalls = 0;
  /** Clean pages those calls freed. */
  recursiveReclaimPages = 0;
  /** Slow-path retry rounds (direct reclaim, OOM, NOFAIL loops). */
  allocRetries = 0;
  /** Allocations that returned no page. */
  allocFailures = 0;
  /** Pages handed out from the memalloc reserve (marked pfmemalloc). */
  pfmemallocAllocs = 0;
  /** NOFAIL retries after the slow path gave up (the livelock loop). */
  nofailRetries = 0;
  /** Reserve allocations that found the reserve empty (emergency path). */
  reserveEmergencies = 0;
  /** OOM killer invocations that killed a task (swapnet_oom_kills_total). */
  oomKills = 0;
  /**
   * Global out_of_memory calls that found no task to kill: the kernel panics there
   * ("System is deadlocked on memory"); the model records it and the verdict names it.
   */
  oomPanics = 0;
  /** out_of_memory calls that returned "progress" without killing (no __GFP_FS). */
  oomSkippedNoFs = 0;
  /** Pages handed to the swap device for writeout (swapnet_swap_writeout_issued_total). */
  writeoutIssued = 0;
  /** Writeouts confirmed by the swap server (swapnet_swap_writeout_completed_total). */
  writeoutCompleted = 0;
  /** Writeouts that ended in an error (the page stays in memory). */
  writeoutFailed = 0;
  /** Writeback pages freed by their completion. */
  writebackFreed = 0;
  /** Completions for a page or slot that was not in writeback (duplicates, restarts). */
  staleCompletions = 0;
  /** Pages read back from swap (swapnet_swap_in_total). */
  swapIns = 0;
  /** Swapped-in pages whose content matched. */
  pagesVerified = 0;
  /** Swapped-in pages whose content did not match: data loss (swapnet_swap_integrity_errors_total). */
  integrityErrors = 0;
  /** Swap-in reads that failed at the device. */
  swapInErrors = 0;
}
