// Tasks of machine A: the hog's workers, the service, kswapd, the swap driver, the
// softirq. A task carries PF_* flags, its memory footprint (for the OOM killer), and
// what it is doing now, so a hang (D state) is visible in /status.
import type { ExecContext } from './gfp.ts';
import type { MemCgroup } from './memcg.ts';

/** Task flags (include/linux/sched.h). */
export const PF = {
  /** Allocating for memory reclaim: may use the whole reserve, never recurses into reclaim. */
  MEMALLOC: 1 << 0,
  /** A kernel thread (kswapd): never throttled on pfmemalloc_wait, never OOM-killed. */
  KTHREAD: 1 << 1,
  /** Scoped GFP_NOIO: allocations drop __GFP_IO and __GFP_FS. */
  MEMALLOC_NOIO: 1 << 2,
  /** Scoped GFP_NOFS: allocations drop __GFP_FS. */
  MEMALLOC_NOFS: 1 << 3,
  /**
   * PF_LESS_THROTTLE: a task that cleans memory (nfsd, loop); seed 000's 2016 proposal
   * exempted such a task from throttle_vm_writeout (not merged).
   */
  LESS_THROTTLE: 1 << 4,
} as const;

/** What a task is doing, for hang detection and /status. `D:` states are uninterruptible. */
export type TaskActivity =
  | 'running'
  | 'D:swap-queue'
  | 'D:swap-in'
  | 'D:pfmemalloc-throttle'
  | 'D:reclaim-throttle'
  | 'D:throttle-vm-writeout'
  | 'D:mempool-wait'
  | 'D:memcg-high'
  | 'D:nofail-retry'
  | 'sleeping'
  | 'exited';

export class Task {
  readonly pid: number;
  readonly name: string;
  /** PF_* bits; changed by memallocNoreclaimSave()/restore(). */
  flags: number;
  /** oom_score_adj: -1000 (never kill) .. 1000. */
  oomScoreAdj: number;
  /** Resident anon pages (MM_ANONPAGES). */
  rssPages = 0;
  /** Pages of this task on swap (MM_SWAPENTS). */
  swapEntries = 0;
  /** Set when the OOM killer chose this task (tsk_is_oom_victim). */
  oomVictim = false;
  /** A fatal signal is pending: the task stops at its next check. */
  killed = false;
  activity: TaskActivity = 'running';
  /** Since when (model ms) the current activity lasts. */
  activitySince = 0;
  /** The memory cgroup the task is charged to; null = the root cgroup (no limits). */
  memcg: MemCgroup | null = null;
  /** Pages charged over memory.high since the last return to user space. */
  memcgPagesOverHigh = 0;

  constructor(pid: number, name: string, options: { flags?: number; oomScoreAdj?: number } = {}) {
    this.pid = pid;
    this.name = name;
    this.flags = options.flags ?? 0;
    this.oomScoreAdj = options.oomScoreAdj ?? 0;
  }

  get isKthread(): boolean {
    return (this.flags & PF.KTHREAD) !== 0;
  }

  /** memalloc_noreclaim_save: sets PF_MEMALLOC, returns the old bit for restore. */
  memallocNoreclaimSave(): number {
    const old = this.flags & PF.MEMALLOC;
    this.flags |= PF.MEMALLOC;
    return old;
  }

  /** memalloc_noreclaim_restore. */
  memallocNoreclaimRestore(old: number): void {
    this.flags = (this.flags & ~PF.MEMALLOC) | old;
  }

  /** Records what the task does from `now` on. */
  setActivity(activity: TaskActivity, now: number): void {
    if (this.activity !== activity) {
      this.activity = activity;
      this.activitySince = now;
    }
  }
}

/** The tasks of machine A: hands out pids and is what the OOM killer walks. */
export class TaskList {
  private nextPid = 1;
  private readonly list: Task[] = [];

  /** Creates and registers a task. */
  spawn(name: string, options: { flags?: number; oomScoreAdj?: number } = {}): Task {
    const task = new Task(this.nextPid++, name, options);
    this.list.push(task);
    return task;
  }

  /** Every task, in creation order. */
  all(): readonly Task[] {
    return this.list;
  }

  /** Tasks that are alive (not exited). */
  alive(): Task[] {
    return this.list.filter((t) => t.activity !== 'exited');
  }
}

/** Where and as whom an allocation runs. */
export interface AllocContext {
  readonly exec: ExecContext;
  /** `current`: the task, or in softirq the interrupted task / ksoftirqd. */
  readonly task: Task;
}
