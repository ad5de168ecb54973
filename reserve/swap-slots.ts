// Swap slots on C's device: allocated when an anon page is chosen for writeout, freed
// when the page comes back in (or its owner exits). Lowest-recently-freed first; cost
// per operation is O(1) and memory grows only with slots freed and not yet reused.
import { invariant } from './errors.ts';

export class SwapSlots {
  readonly capacity: number;
  private nextFresh = 0;
  private readonly freed: number[] = [];
  private inUse = 0;

  constructor(capacity: number) {
    invariant(
      Number.isSafeInteger(capacity) && capacity > 0,
      `swap device needs slots, got ${capacity}`,
    );
    this.capacity = capacity;
  }

  /** Slots holding data now. */
  get used(): number {
    return this.inUse;
  }

  /** Slots still available (get_nr_swap_pages). */
  get available(): number {
    return this.capacity - this.inUse;
  }

  /** Allocates a slot; returns -1 when the device is full. */
  alloc(): number {
    let slot = this.freed.pop();
    if (slot === undefined) {
      if (this.nextFresh >= this.capacity) return -1;
      slot = this.nextFresh++;
    }
    this.inUse++;
    return slot;
  }

  /** Returns a slot to the device. */
  free(slot: number): void {
    invariant(
      slot >= 0 && slot < this.nextFresh && this.inUse > 0,
      () => `freeing bad slot ${slot}`,
    );
    this.inUse--;
    this.freed.push(slot);
  }
}
