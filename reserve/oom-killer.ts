// The OOM killer's decision rules (mm/oom_kill.c, mm/page_alloc.c): a dying current
// task just gets the reserves; otherwise no kill for a request without __GFP_FS (it
// returns "progress" and the caller keeps looping); otherwise the task with the most
// memory (rss + swap entries, adjusted by oom_score_adj) is killed and reaped at once.
import type { Scheduler } from './clock.ts';
import type { EventSink } from './events.ts';
import { __GFP, type GfpMask } from './gfp.ts';
import type { MemStats } from './mem-stats.ts';
import type { MemCgroup } from './memcg.ts';
import type { OomOutcome } from './page-allocator.ts';
import type { Task, TaskList } from './task.ts';

export class OomKiller {
  constructor(
    private readonly tasks: TaskList,
    /** Total pages for oom_score_adj scaling (RAM + swap). */
    private readonly totalPages: () => number,
    /** The OOM reaper: frees the victim's memory at once. */
    private readonly reap: (victim: Task) => number,
    private readonly scheduler: Scheduler,
    private readonly stats: MemStats,
    private readonly events: EventSink,
  ) {}

  /**
   * oom_badness: rss + swap entries + oom_score_adj * (totalpages / 1000), the division
   * first and in integers as in the kernel (`adj *= totalpages / 1000`); null for tasks
   * the killer never picks (kernel threads, oom_score_adj -1000, already reaped).
   */
  badness(task: Task, totalPages: number): number | null {
    if (task.isKthread || task.oomScoreAdj === -1000 || task.oomVictim) return null;
    if (task.activity === 'exited') return null;
    return task.rssPages + task.swapEntries + task.oomScoreAdj * Math.floor(totalPages / 1000);
  }

  /**
   * out_of_memory: decides and acts. `memcg` set = a memcg OOM (kills inside it, and
   * also for requests without __GFP_FS).
   */
  outOfMemory(gfp: GfpMask, _order: number, current: Task, memcg: MemCgroup | null): OomOutcome {
    // task_will_free_mem(current): a dying task just gets access to the reserves. The
    // kernel checks this before the __GFP_FS rule, so a dying GFP_NOFS caller gets them too.
    if (current.killed && !current.isKthread) {
      current.oomVictim = true;
      return 'current-dying';
    }
    // The OOM killer does not compensate for IO-less reclaim.
    if (!memcg && !(gfp & __GFP.FS)) {
      this.stats.oomSkippedNoFs++;
      return 'no-kill-nofs';
    }
    const total = memcg && Number.isFinite(memcg.max) ? memcg.max : this.totalPages();
    let victim: Task | undefined;
    let best = -Infinity;
    for (const t of this.tasks.all()) {
      if (memcg && t.memcg !== memcg) continue;
      const points = this.badness(t, total);
      if (points === null) continue;
      if (points >= best) {
        best = points;
        victim = t;
      }
    }
    if (!victim) {
      this.events({ type: 'oom-no-victim', at: this.scheduler.now(), memcg: memcg?.name ?? null });
      // out_of_memory: "Found no killable task" outside a memcg (and not sysrq) is a
      // panic. The model cannot stop the machine: it records the panic, the verdict names
      // it, and the allocation fails as it did before the panic existed in the model.
      if (!memcg) {
        this.stats.oomPanics++;
        this.events({
          type: 'oom-panic',
          at: this.scheduler.now(),
          message: 'Out of memory and no killable processes... System is deadlocked on memory',
        });
      }
      return 'no-victim';
    }
    victim.killed = true;
    victim.oomVictim = true;
    this.stats.oomKills++;
    if (memcg) memcg.events.oomKill++;
    this.events({
      type: 'oom-kill',
      at: this.scheduler.now(),
      victim: victim.name,
      pid: victim.pid,
      points: best,
      memcg: memcg?.name ?? null,
    });
    this.reap(victim);
    return 'killed';
  }
}
