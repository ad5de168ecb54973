// Where a sweep's runs execute: N at a time, each a pure function of its job (the cell's
// knobs and seed), so order and placement never change a result. `workerPool` runs them
// in worker threads (the simulation engine is CPU-bound: one thread per core), each
// loading the runner module through tsx; `inlinePool` runs them in this thread (tests,
// --jobs 1). abort() (Ctrl-C) sends no new job, aborts those in hand and lets the pool
// drain: a job that finishes anyway is still reported, so nothing finished is lost.
import { Worker } from 'node:worker_threads';
import { SwapnetError, type ErrorCode } from '../../reserve/errors.ts';
import type { RunOutcome, SweepJob } from './spec.ts';

/** Runs one job; rejects when it fails or is aborted. */
export type JobRunner = (job: SweepJob, signal?: AbortSignal) => Promise<RunOutcome>;

export interface Pool {
  readonly size: number;
  run(job: SweepJob): Promise<RunOutcome>;
  /** No new job starts; queued ones reject with SweepAbortedError, running ones are aborted. */
  abort(): void;
  /** Waits for the jobs in hand, then frees the workers. */
  close(): Promise<void>;
}

/** A job that did not run because the sweep was stopped. */
export class SweepAbortedError extends Error {
  constructor() {
    super('sweep stopped');
    this.name = 'SweepAbortedError';
  }
}

/** A job that failed in a worker: the error's code, name and message crossed the thread. */
export class SweepRunError extends SwapnetError {
  readonly originalName: string;
  constructor(code: ErrorCode, name: string, message: string) {
    super(code, message);
    this.originalName = name;
  }
}

interface Waiting {
  readonly job: SweepJob;
  readonly resolve: (o: RunOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/** A small FIFO of jobs in front of `size` slots, each slot a `start` that settles. */
function slots(
  size: number,
  start: (slot: number, w: Waiting) => Promise<void>,
): { push(w: Waiting): void; abort(): void; idle(): Promise<void> } {
  const queue: Waiting[] = [];
  const busy = new Set<number>();
  const running = new Set<Promise<void>>();
  let aborted = false;
  const pump = (): void => {
    for (let slot = 0; slot < size && queue.length > 0 && !aborted; slot++) {
      if (busy.has(slot)) continue;
      const w = queue.shift() as Waiting;
      busy.add(slot);
      const p = start(slot, w).finally(() => {
        busy.delete(slot);
        running.delete(p);
        pump();
      });
      running.add(p);
    }
  };
  return {
    push(w) {
      if (aborted) return w.reject(new SweepAbortedError());
      queue.push(w);
      pump();
    },
    abort() {
      aborted = true;
      for (const w of queue.splice(0)) w.reject(new SweepAbortedError());
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}

/** Runs jobs in this thread, `size` at a time. */
export function inlinePool(runner: JobRunner, size: number): Pool {
  const controller = new AbortController();
  const s = slots(size, async (_slot, w) => {
    try {
      w.resolve(await runner(w.job, controller.signal));
    } catch (err) {
      w.reject(controller.signal.aborted ? new SweepAbortedError() : err);
    }
  });
  return {
    size,
    run: (job) => new Promise((resolve, reject) => s.push({ job, resolve, reject })),
    abort() {
      s.abort();
      controller.abort();
    },
    close: () => s.idle(),
  };
}

interface WorkerSlot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  current: { id: number; w: Waiting } | null;
}

/**
 * Runs jobs in `size` worker threads, each loading `module` (a URL of a module that
 * exports `runJob: JobRunner`). A worker that dies fails its job and is replaced.
 */
const WORKER_YOUNG_GENERATION_MB = 192;

export function workerPool(module: string, size: number): Pool {
  const script = new URL('./worker.mjs', import.meta.url);
  const workers: (WorkerSlot | undefined)[] = [];
  let nextId = 1;
  let aborted = false;

  const spawnWorker = (slot: number): WorkerSlot => {
    const worker = new Worker(script, {
      workerData: { module },
      // A larger young generation: a simulation allocates a few hundred MB of short-lived
      // objects a run, and with V8's default (16 MiB semi-spaces) much of what lives a
      // few milliseconds is copied and promoted. Costs memory, not the result.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    let readyResolve!: () => void;
    let readyReject!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const ws: WorkerSlot = { worker, ready, current: null };
    worker.on(
      'message',
      (msg: {
        type: string;
        id?: number;
        outcome?: RunOutcome;
        error?: Record<string, unknown>;
      }) => {
        if (msg.type === 'ready') return readyResolve();
        const cur = ws.current;
        if (!cur || cur.id !== msg.id) return;
        ws.current = null;
        if (msg.type === 'done') cur.w.resolve(msg.outcome as RunOutcome);
        else {
          const e = msg.error ?? {};
          if (e.aborted) cur.w.reject(new SweepAbortedError());
          else
            cur.w.reject(
              new SweepRunError(
                (typeof e.code === 'string' ? e.code : 'SWAPNET_ERR_NODE_FAILED') as ErrorCode,
                String(e.name ?? 'Error'),
                String(e.message ?? 'the run failed'),
              ),
            );
        }
      },
    );
    const fail = (err: unknown): void => {
      readyReject(err);
      const cur = ws.current;
      ws.current = null;
      workers[slot] = undefined;
      cur?.w.reject(aborted ? new SweepAbortedError() : err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`sweep worker exited with code ${code}`)));
    ready.catch(() => {});
    return ws;
  };

  const s = slots(size, async (slot, w) => {
    const ws = (workers[slot] ??= spawnWorker(slot));
    const id = nextId++;
    const settled = new Promise<void>((resolve) => {
      ws.current = {
        id,
        w: {
          job: w.job,
          resolve: (o) => {
            w.resolve(o);
            resolve();
          },
          reject: (e) => {
            w.reject(e);
            resolve();
          },
        },
      };
    });
    try {
      await ws.ready;
    } catch (err) {
      ws.current?.w.reject(err);
      return;
    }
    if (aborted) {
      ws.current?.w.reject(new SweepAbortedError());
      return;
    }
    ws.worker.postMessage({ type: 'run', id, job: w.job });
    await settled;
  });

  return {
    size,
    run: (job) => new Promise((resolve, reject) => s.push({ job, resolve, reject })),
    abort() {
      aborted = true;
      s.abort();
      for (const ws of workers) if (ws?.current) ws.worker.postMessage({ type: 'abort' });
    },
    async close() {
      await s.idle();
      await Promise.all(
        workers.map(async (ws) => {
          if (!ws) return;
          ws.worker.removeAllListeners('exit');
          ws.worker.removeAllListeners('error');
          ws.worker.on('error', () => {});
          await ws.worker.terminate();
        }),
      );
      workers.length = 0;
    },
  };
}
