// The fault gate's metrics on a node's registry: read from the gate at scrape time.
import type { Registry } from 'prom-client';
import { GATE_MODES, type FaultGate } from './machines/fault-gate.ts';
import { counterFn, gaugeFn } from './metrics.ts';

/** Registers swapnet_node_fault_active and the gate's frame and connection counters. */
export function registerGateMetrics(registry: Registry, gate: FaultGate): void {
  gaugeFn(
    registry,
    'swapnet_node_fault_active',
    "1 while this node's fault gate applies the mode",
    ['mode'],
    (set) => {
      for (const mode of GATE_MODES) set({ mode }, gate.fault?.mode === mode ? 1 : 0);
    },
  );
  counterFn(
    registry,
    'swapnet_fault_frames_dropped_total',
    "Frames this node's fault gate dropped, by mode and direction",
    ['mode', 'direction'],
    (set) => {
      for (const mode of ['blackhole', 'loss'] as const) {
        const c = gate.counters.dropped[mode];
        set({ mode, direction: 'in' }, c.in);
        set({ mode, direction: 'out' }, c.out);
      }
    },
  );
  counterFn(
    registry,
    'swapnet_fault_frames_held_total',
    "Outgoing frames this node's fault gate held during a stall (written at heal)",
    ['mode', 'direction'],
    (set) => set({ mode: 'stall', direction: 'out' }, gate.counters.held.stall.out),
  );
  counterFn(
    registry,
    'swapnet_fault_frames_delayed_total',
    "Frames this node's fault gate delivered late, by direction",
    ['mode', 'direction'],
    (set) => {
      const c = gate.counters.delayed.delay;
      set({ mode: 'delay', direction: 'in' }, c.in);
      set({ mode: 'delay', direction: 'out' }, c.out);
    },
  );
  counterFn(
    registry,
    'swapnet_fault_connections_total',
    "Connections this node's reset fault reset or refused",
    ['action'],
    (set) => {
      set({ action: 'reset' }, gate.counters.connections.reset);
      set({ action: 'refused' }, gate.counters.connections.refused);
    },
  );
}
