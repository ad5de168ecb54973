// What every node counts at its edges: connections refused (by reason), frame streams
// that turned out malformed (by reason), bad HTTP requests. Bad input is counted, logged
// and survived; it never crashes a node.
import type { Registry } from 'prom-client';
import { counterFn } from './metrics.ts';

export class ShellCounters {
  readonly connections = new Map<string, number>();
  readonly frameErrors = new Map<string, number>();
  httpBadRequests = 0;
  controlRefused = 0;

  connection(result: string): void {
    this.connections.set(result, (this.connections.get(result) ?? 0) + 1);
  }

  frameError(reason: string): void {
    this.frameErrors.set(reason, (this.frameErrors.get(reason) ?? 0) + 1);
  }

  register(registry: Registry): void {
    counterFn(
      registry,
      'swapnet_connections_total',
      'Connections accepted or refused, by result',
      ['result'],
      (set) => {
        for (const [result, n] of this.connections) set({ result }, n);
      },
    );
    counterFn(
      registry,
      'swapnet_frame_errors_total',
      'Connections closed for malformed frames, by reason',
      ['reason'],
      (set) => {
        for (const [reason, n] of this.frameErrors) set({ reason }, n);
      },
    );
    counterFn(
      registry,
      'swapnet_http_bad_requests_total',
      'Malformed or unknown HTTP requests',
      [],
      (set) => set({}, this.httpBadRequests),
    );
    counterFn(
      registry,
      'swapnet_control_refused_total',
      'Control requests without the right token',
      [],
      (set) => set({}, this.controlRefused),
    );
  }
}
