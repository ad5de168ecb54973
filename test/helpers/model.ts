// Builds a memory model in virtual time for unit tests.
import type { ModelEvent } from '../../reserve/events.ts';
import {
  DEFAULT_MEMORY_CONFIG,
  MemoryModel,
  type MemoryModelConfig,
} from '../../reserve/memory-model.ts';
import type { VirtualScheduler } from '../../reserve/virtual-scheduler.ts';
import { FakeSwapDevice } from './fake-swap-device.ts';
import { virtualScheduler } from './virtual-time.ts';

export interface TestModel {
  readonly model: MemoryModel;
  readonly sched: VirtualScheduler;
  readonly device: FakeSwapDevice;
  readonly events: ModelEvent[];
}

/** A 256 MiB machine (min 512, low 640, high 768) with 512 MiB of swap, unless overridden. */
export function makeModel(
  overrides: Partial<MemoryModelConfig> = {},
  device: { queueDepth?: number; latencyMs?: number } = {},
): TestModel {
  const sched = virtualScheduler();
  const events: ModelEvent[] = [];
  const model = new MemoryModel(
    { ...DEFAULT_MEMORY_CONFIG, ramPages: 65536, swapPages: 131072, ...overrides },
    sched,
    (e) => events.push(e),
  );
  const dev = new FakeSwapDevice(
    sched,
    model.anon,
    device.queueDepth ?? 128,
    device.latencyMs ?? 1,
  );
  model.anon.attachDevice(dev);
  return { model, sched, device: dev, events };
}

/**
 * Takes free pages down to exactly `free` by allocating kernel pages directly from
 * the zone (no watermark checks): the test sets the stage, the model then acts on it.
 */
export function setFree(model: MemoryModel, free: number): void {
  const z = model.zone;
  if (z.free > free) z.take(z.free - free, 'kernel', false);
  else if (z.free < free) z.give(free - z.free, 'kernel', false);
}
