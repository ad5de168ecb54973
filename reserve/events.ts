// Notable things the model reports to its shell (logs, /status, the verdict engine).
// The model never logs itself: it emits these values through an injected sink.

export type ModelEvent =
  | {
      readonly type: 'oom-kill';
      readonly at: number;
      readonly victim: string;
      readonly pid: number;
      readonly points: number;
      readonly memcg: string | null;
    }
  | { readonly type: 'oom-no-victim'; readonly at: number; readonly memcg: string | null }
  /** out_of_memory with no victim outside a memcg: panic("System is deadlocked on memory"). */
  | { readonly type: 'oom-panic'; readonly at: number; readonly message: string }
  | {
      readonly type: 'alloc-failure';
      readonly at: number;
      readonly gfp: string;
      readonly order: number;
      readonly task: string;
      readonly reason: string;
    }
  | { readonly type: 'kswapd-gave-up'; readonly at: number; readonly failures: number }
  | {
      readonly type: 'integrity-error';
      readonly at: number;
      readonly page: number;
      readonly version: number;
      readonly slot: number;
    }
  | {
      readonly type: 'nofail-unsupported';
      readonly at: number;
      readonly gfp: string;
      readonly task: string;
    }
  | { readonly type: 'reserve-emergency'; readonly at: number; readonly strategy: string };

export type EventSink = (event: ModelEvent) => void;

/** A sink that drops everything (tests that do not look at events). */
export const ignoreEvents: EventSink = () => {};
