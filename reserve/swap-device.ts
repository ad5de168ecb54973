// The hand-off between reclaim and the swap device driver (nodes/ implements it over
// the network; tests use an in-memory device). Reclaim submits a page; the device
// reports the completion later through AnonMemory.writeoutDone().
import type { Task } from './task.ts';

/** One page to write to swap: its content is (page, version). */
export interface SwapWriteRequest {
  readonly page: number;
  readonly slot: number;
  readonly version: number;
}

export interface SwapDevice {
  /**
   * Queues a writeout. Resolves once the request holds a place in the device queue:
   * the caller sleeps (D state) while the queue is full. Never rejects.
   */
  submitWrite(request: SwapWriteRequest, task: Task): Promise<void>;
  /**
   * Reads a slot back. Resolves with the page's bytes, or 'error' if the device
   * refused. May take arbitrarily long (the server may be unreachable). Never rejects.
   */
  read(slot: number, page: number, task: Task): Promise<Uint8Array | 'error'>;
}
